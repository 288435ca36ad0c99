#!/usr/bin/env bash
# Installs (once) what the Kotlin/JVM binding tests need and prints `KOTLIN_HOME JNA_JAR JUNIT_JAR`:
# the Kotlin distribution from the npm package `kotlin-compiler` (kotlinc, stdlib, kotlin-test,
# kotlinx-coroutines) cached in ~/.cache/upay/kotlin, and JNA plus the JUnit 5 console launcher
# from Debian. Needs a JDK (17+) and npm.
set -euo pipefail
version=2.4.20
cache=${UPAY_KOTLIN_CACHE:-$HOME/.cache/upay/kotlin}
home="$cache/node_modules/kotlin-compiler"
if [ "$(cat "$home/build.txt" 2>/dev/null)" != "$version" ]; then
  mkdir -p "$cache"
  (cd "$cache" && npm install --silent --no-audit --no-fund "kotlin-compiler@$version" >&2)
fi
jna=/usr/share/java/jna.jar
junit=/usr/share/java/junit-platform-console-standalone.jar
if [ ! -f "$jna" ] || [ ! -f "$junit" ] || ! command -v javac >/dev/null; then
  apt-get update -qq >&2
  apt-get install -y -qq libjna-java junit5 default-jdk-headless >&2
fi
echo "$home $jna $junit"
