import UPayCore

/// Facts about the linked core library.
public enum CoreInfo {
    /// The core's semantic version.
    public static var version: String { coreVersion() }
}
