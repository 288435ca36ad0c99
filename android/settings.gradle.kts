// The Android build: `walletkit` (bindings, Keystore, state holders) and the Compose `app`.
// Needs the Android SDK, Google's Maven and Rust with cargo-ndk on the build machine; see
// docs/bindings.md. The JVM part of walletkit is also tested without Gradle by
// bindings/scripts/test-kotlin.sh.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "upay"
include(":walletkit")
// The app module joins once its sources exist (the Android app issue).
if (file("app/src/main/AndroidManifest.xml").exists()) include(":app")
