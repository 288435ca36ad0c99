import Foundation

extension NSLocking {
    /// Runs `body` with the lock held.
    func synchronized<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }
}
