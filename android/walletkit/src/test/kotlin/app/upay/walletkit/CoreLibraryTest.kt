package app.upay.walletkit

import kotlin.test.Test
import kotlin.test.assertTrue
import uniffi.upay_core.coreVersion

/** The host core library loads through JNA and answers. */
class CoreLibraryTest {
    @Test
    fun coreLibraryLoadsAndReportsItsVersion() {
        assertTrue(Regex("""\d+\.\d+\.\d+""").matches(coreVersion()))
    }
}
