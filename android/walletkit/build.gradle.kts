// walletkit: the generated Kotlin bindings, the Rust core for every ABI, the Android Keystore
// key store and the plain-Kotlin state holders the Compose app renders.
//
// `preBuild` runs two tasks (needs Rust, `cargo install cargo-ndk` and an NDK in
// ANDROID_NDK_HOME, plus the Android targets: `rustup target add aarch64-linux-android
// armv7-linux-androideabi x86_64-linux-android`):
//   cargoNdk       - the core as libupay_core.so per ABI (profile from `-Pupay.rustProfile`,
//                    default `mobile`), packaged as jniLibs;
//   uniffiBindings - Kotlin bindings generated from that library with bindings/uniffi.toml,
//                    compiled with the module's sources (never committed).
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.library)
    alias(libs.plugins.kotlin.android)
}

val repoRoot: File = rootDir.parentFile
val rustProfile = providers.gradleProperty("upay.rustProfile").getOrElse("mobile")
val abis = listOf("arm64-v8a", "armeabi-v7a", "x86_64")
val rustJniLibs = layout.buildDirectory.dir("rustJniLibs")
val generatedKotlin = layout.buildDirectory.dir("generated/uniffi/kotlin")

val cargoNdk by tasks.registering(Exec::class) {
    description = "Builds the Rust core for every Android ABI with cargo-ndk."
    workingDir = repoRoot
    inputs.files(fileTree(repoRoot.resolve("core")) { include("**/*.rs", "**/Cargo.toml") })
    inputs.files(repoRoot.resolve("Cargo.toml"), repoRoot.resolve("Cargo.lock"))
    inputs.property("profile", rustProfile)
    outputs.dir(rustJniLibs)
    // uniffi's interface metadata lives in symbols, which the release profile strips; keep them
    // for uniffiBindings. AGP strips the libraries when it packages the APK.
    environment("CARGO_PROFILE_${rustProfile.uppercase()}_STRIP", "none")
    commandLine(
        listOf("cargo", "ndk", "--platform", "26") +
            abis.flatMap { listOf("-t", it) } +
            listOf("-o", rustJniLibs.get().asFile.path, "build", "--locked", "-p", "upay-core", "--profile", rustProfile),
    )
}

val uniffiBindings by tasks.registering(Exec::class) {
    description = "Generates the Kotlin bindings from the built core library."
    dependsOn(cargoNdk)
    workingDir = repoRoot
    inputs.files(cargoNdk)
    inputs.file(repoRoot.resolve("bindings/uniffi.toml"))
    outputs.dir(generatedKotlin)
    doFirst { delete(generatedKotlin) }
    // Library mode reads the metadata uniffi embedded in the library; any ABI's copy will do.
    commandLine(
        "cargo", "run", "--locked", "-q", "-p", "uniffi-bindgen", "--",
        "generate", "--language", "kotlin", "--no-format",
        "--config", "bindings/uniffi.toml",
        "--out-dir", generatedKotlin.get().asFile.path,
        rustJniLibs.get().file("arm64-v8a/libupay_core.so").asFile.path,
    )
}

tasks.named("preBuild") { dependsOn(uniffiBindings) }

android {
    namespace = "app.upay.walletkit"
    compileSdk = 36

    defaultConfig {
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets.getByName("main") {
        java.srcDir(generatedKotlin)
        jniLibs.srcDir(rustJniLibs)
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    testOptions {
        unitTests.all {
            // The JVM suite (src/test) loads the host build of the core and needs the mock:
            //   cargo build -p upay-core -p server-mock
            //   bindings/scripts/with-mock.sh gradle -p android :walletkit:testDebugUnitTest
            it.useJUnitPlatform()
            it.systemProperty("jna.library.path", repoRoot.resolve("target/debug").path)
        }
    }
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }
}

dependencies {
    // The aar carries JNA's native dispatch library for every Android ABI.
    implementation(libs.jna) { artifact { type = "aar" } }
    implementation(libs.kotlinx.coroutines.android)
    implementation(libs.androidx.biometric)
    implementation(libs.androidx.fragment)
    implementation(libs.androidx.core)

    // On the JVM, the plain jar carries JNA's desktop native library instead.
    testImplementation(libs.jna)
    testImplementation(libs.kotlin.test.junit5)
    testImplementation(libs.junit.jupiter)
}
