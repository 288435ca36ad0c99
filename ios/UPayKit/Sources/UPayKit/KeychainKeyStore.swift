#if canImport(Security) && canImport(LocalAuthentication)
import Foundation
import LocalAuthentication
import Security
import UPayCore
#if canImport(CryptoKit)
import CryptoKit
#endif

/// The core's `KeyStore` on iPhone: two P-256 keys created in the Secure Enclave (in the
/// Keychain where there is none, e.g. the simulator); the private halves never leave it.
///
/// - `<service>.wrap` wraps the cache's data key (ECIES with AES-GCM). Usable after the first
///   unlock since boot without the user, so the app can open its cache in the background.
/// - `<service>.payment` signs payment confirmations (ECDSA, DER). Every use asks for Face ID,
///   Touch ID or the passcode, showing the reason the core passes.
///
/// Both are "this device only": a backup restored to another phone carries no key, and the
/// core reports `keyWasReset` and syncs again.
///
/// The core calls this synchronously from its own threads, never the main thread; `sign`
/// blocks its caller while the system prompt is shown.
public final class KeychainKeyStore: KeyStore, @unchecked Sendable {
    private let wrapTag: Data
    private let paymentTag: Data
    private let lock = NSLock()

    public init(service: String = "app.upay.wallet") {
        wrapTag = Data("\(service).wrap".utf8)
        paymentTag = Data("\(service).payment".utf8)
    }

    public func wrapDataKey(dataKey: Data) throws -> Data {
        let key = try privateKey(tag: wrapTag, create: true, context: nil)
        guard let publicKey = SecKeyCopyPublicKey(key) else {
            throw KeyStoreError.Unavailable(message: "no public key")
        }
        var error: Unmanaged<CFError>?
        guard let wrapped = SecKeyCreateEncryptedData(publicKey, Self.wrapAlgorithm, dataKey as CFData, &error) else {
            throw Self.mapped(error)
        }
        return wrapped as Data
    }

    public func unwrapDataKey(wrapped: Data) throws -> Data {
        let key = try privateKey(tag: wrapTag, create: false, context: nil)
        var error: Unmanaged<CFError>?
        guard let plain = SecKeyCreateDecryptedData(key, Self.wrapAlgorithm, wrapped as CFData, &error) else {
            // Encrypted to a key this phone does not have (a restored backup): the key is gone.
            throw KeyStoreError.KeyNotFound
        }
        return plain as Data
    }

    public func signingPublicKey() throws -> Data {
        let key = try privateKey(tag: paymentTag, create: true, context: nil)
        var error: Unmanaged<CFError>?
        guard let publicKey = SecKeyCopyPublicKey(key),
              let point = SecKeyCopyExternalRepresentation(publicKey, &error)
        else {
            throw Self.mapped(error)
        }
        // ANSI X9.63 for an EC public key: 04 || X || Y, 65 bytes for P-256.
        return point as Data
    }

    public func sign(payload: Data, reason: String) throws -> Data {
        let context = LAContext()
        context.localizedReason = reason
        let key = try privateKey(tag: paymentTag, create: false, context: context)
        var error: Unmanaged<CFError>?
        guard let signature = SecKeyCreateSignature(key, .ecdsaSignatureMessageX962SHA256, payload as CFData, &error) else {
            throw Self.mapped(error)
        }
        return signature as Data
    }

    public func deleteSigningKey() throws {
        let status = SecItemDelete(Self.query(tag: paymentTag) as CFDictionary)
        guard status == errSecSuccess || status == errSecItemNotFound else {
            throw KeyStoreError.Unavailable(message: "keychain status \(status)")
        }
    }

    // MARK: - Keys

    private static let wrapAlgorithm = SecKeyAlgorithm.eciesEncryptionCofactorVariableIVX963SHA256AESGCM

    private static func query(tag: Data) -> [String: Any] {
        [
            kSecClass as String: kSecClassKey,
            kSecAttrKeyClass as String: kSecAttrKeyClassPrivate,
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrApplicationTag as String: tag,
        ]
    }

    private func privateKey(tag: Data, create: Bool, context: LAContext?) throws -> SecKey {
        lock.lock()
        defer { lock.unlock() }
        var query = Self.query(tag: tag)
        query[kSecReturnRef as String] = true
        if let context {
            query[kSecUseAuthenticationContext as String] = context
        }
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        if status == errSecSuccess, let item {
            return item as! SecKey // swiftlint:disable:this force_cast (a kSecClassKey query returns SecKey)
        }
        guard status == errSecItemNotFound else {
            throw KeyStoreError.Unavailable(message: "keychain status \(status)")
        }
        guard create else { throw KeyStoreError.KeyNotFound }
        return try Self.createKey(tag: tag, userPresence: tag == paymentTag)
    }

    private static func createKey(tag: Data, userPresence: Bool) throws -> SecKey {
        let enclave = secureEnclaveAvailable
        var flags: SecAccessControlCreateFlags = []
        if enclave { flags.insert(.privateKeyUsage) }
        if userPresence { flags.insert(.userPresence) }
        // The payment key only while unlocked; the wrapping key from the first unlock since
        // boot, so a background sync can open the cache.
        let protection = userPresence
            ? kSecAttrAccessibleWhenUnlockedThisDeviceOnly
            : kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly
        var error: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(nil, protection, flags, &error) else {
            throw mapped(error)
        }
        var attributes: [String: Any] = [
            kSecAttrKeyType as String: kSecAttrKeyTypeECSECPrimeRandom,
            kSecAttrKeySizeInBits as String: 256,
            kSecPrivateKeyAttrs as String: [
                kSecAttrIsPermanent as String: true,
                kSecAttrApplicationTag as String: tag,
                kSecAttrAccessControl as String: access,
            ] as [String: Any],
        ]
        if enclave {
            attributes[kSecAttrTokenID as String] = kSecAttrTokenIDSecureEnclave
        }
        guard let key = SecKeyCreateRandomKey(attributes as CFDictionary, &error) else {
            throw mapped(error)
        }
        return key
    }

    private static var secureEnclaveAvailable: Bool {
        #if canImport(CryptoKit) && !targetEnvironment(simulator)
        return SecureEnclave.isAvailable
        #else
        return false
        #endif
    }

    /// Maps Security and LocalAuthentication failures; messages carry codes, never data.
    private static func mapped(_ error: Unmanaged<CFError>?) -> KeyStoreError {
        guard let error = error?.takeRetainedValue() else {
            return .Unavailable(message: "unknown security error")
        }
        let code = CFErrorGetCode(error)
        let domain = CFErrorGetDomain(error) as String
        if domain == LAErrorDomain {
            switch LAError.Code(rawValue: code) {
            case .userCancel?, .appCancel?, .systemCancel?, .userFallback?:
                return .UserCancelled
            case .authenticationFailed?:
                return .AuthenticationFailed
            default:
                return .Unavailable(message: "local authentication \(code)")
            }
        }
        switch OSStatus(truncatingIfNeeded: code) {
        case errSecUserCanceled: return .UserCancelled
        case errSecAuthFailed: return .AuthenticationFailed
        case errSecItemNotFound: return .KeyNotFound
        default: return .Unavailable(message: "security status \(code)")
        }
    }
}
#endif
