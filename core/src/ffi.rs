//! The exported surface: a root [`WalletClient`] and sub-objects per area. A thin layer: each
//! method checks nothing the core does not, and maps errors to the client's language.
//! Async methods run on tokio (`async_runtime = "tokio"`) and are safe to drop half-way: every
//! step is persisted before the next network call, and an interrupted send leaves its item
//! `unknown`, to be retried with the same key.

use std::sync::Arc;

use crate::config::ClientConfig;
use crate::core::Core;
use crate::error::{CoreError, CoreResult};
use crate::events::{Subscription, WalletListener};
use crate::history::{HistoryFilter, HistoryPage};
use crate::insights::{
    CategoryTotal, MerchantTotal, MonthSummary, RecurringBill, Reminder, Statement,
};
use crate::keystore::KeyStore;
use crate::logging::{LogLevel, Logger};
use crate::model::{Amount, CardView, FxQuoteView, HomeSnapshot, OutboxItem, TransactionView};
use crate::payments::{
    MerchantInfo, NotMeOutcome, PayeeInput, PayeeView, PaymentOutcome, WithdrawalView,
};
use crate::session::{CodeSent, DeviceEntry, LoginResult, Profile};
use crate::store::mirror::RecentPayee;
use crate::sync::SyncReport;

fn loc<T>(core: &Core, r: CoreResult<T>) -> CoreResult<T> {
    r.map_err(|e| e.localized(core.zh()))
}

#[derive(uniffi::Object)]
pub struct WalletClient {
    core: Arc<Core>,
}

impl WalletClient {
    /// The core, for Rust callers (tests, benchmarks, a desktop shell).
    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Opens a client with already checked settings (Rust callers that tune retries).
    pub fn with_settings(
        settings: crate::config::Settings,
        key_store: Arc<dyn KeyStore>,
    ) -> CoreResult<Arc<WalletClient>> {
        Ok(Arc::new(WalletClient {
            core: Core::open_with(settings, key_store)?,
        }))
    }
}

#[uniffi::export]
impl WalletClient {
    /// Opens (or creates) the encrypted cache in `config.data_dir`, unwrapping its key with
    /// `key_store`. `logger` receives the core's log records at `Info` and above.
    #[uniffi::constructor]
    pub fn new(
        config: ClientConfig,
        key_store: Arc<dyn KeyStore>,
        logger: Option<Arc<dyn Logger>>,
    ) -> Result<Arc<WalletClient>, CoreError> {
        if let Some(logger) = logger {
            crate::logging::set_logger(logger, LogLevel::Info);
        }
        let core = Core::open(&config, key_store)
            .map_err(|e| e.localized(crate::config::is_chinese(&config.locale)))?;
        Ok(Arc::new(WalletClient { core }))
    }

    pub fn session(&self) -> Arc<SessionApi> {
        Arc::new(SessionApi {
            core: self.core.clone(),
        })
    }

    pub fn payments(&self) -> Arc<PaymentsApi> {
        Arc::new(PaymentsApi {
            core: self.core.clone(),
        })
    }

    pub fn history(&self) -> Arc<HistoryApi> {
        Arc::new(HistoryApi {
            core: self.core.clone(),
        })
    }

    pub fn insights(&self) -> Arc<InsightsApi> {
        Arc::new(InsightsApi {
            core: self.core.clone(),
        })
    }

    pub fn sync(&self) -> Arc<SyncApi> {
        Arc::new(SyncApi {
            core: self.core.clone(),
        })
    }

    /// The help center, offline (issue 6).
    pub fn help(&self) -> Arc<HelpApi> {
        Arc::new(HelpApi {
            core: self.core.clone(),
        })
    }

    /// Announcements, system status, version check, contact channels and the network check.
    pub fn notices(&self) -> Arc<NoticesApi> {
        Arc::new(NoticesApi {
            core: self.core.clone(),
        })
    }

    /// Support chat (signed in).
    pub fn chat(&self) -> Arc<ChatApi> {
        Arc::new(ChatApi {
            core: self.core.clone(),
        })
    }

    /// Product feedback and satisfaction surveys (signed in).
    pub fn feedback(&self) -> Arc<FeedbackApi> {
        Arc::new(FeedbackApi {
            core: self.core.clone(),
        })
    }

    /// Opens the live event connection (while the app is in the foreground): payments,
    /// payment-code charges, savings changes and new-device sign-ins reach the listeners at
    /// once, and each one triggers a sync. Stop it (or drop it) in the background.
    pub fn start_live_events(&self) -> Arc<crate::live::LiveEvents> {
        crate::live::start(&self.core)
    }

    /// The in-store payment code (付款码): turned on online, codes derived offline.
    pub fn paycode(&self) -> Arc<PaycodeApi> {
        Arc::new(PaycodeApi {
            core: self.core.clone(),
        })
    }

    /// Savings (理财): balances, yield and history from the cache; moves through the outbox.
    pub fn savings(&self) -> Arc<SavingsApi> {
        Arc::new(SavingsApi {
            core: self.core.clone(),
        })
    }

    /// Everything the home screen shows, from the cache, in one call (works offline).
    pub fn home_snapshot(&self) -> Result<HomeSnapshot, CoreError> {
        let core = &self.core;
        loc(
            core,
            (|| {
                let signed_in = core.auth().is_some();
                if signed_in {
                    core.ensure_unlocked()?;
                }
                Ok(HomeSnapshot {
                    signed_in,
                    balances: core.balance_views()?,
                    pending: core.pending_items(20)?,
                    recent: if signed_in {
                        crate::history::newest(core, 20)?
                    } else {
                        Vec::new()
                    },
                    synced_at: crate::sync::pull::synced_at(&core.store)?,
                    offline: core.offline.load(std::sync::atomic::Ordering::Relaxed),
                })
            })(),
        )
    }

    /// Registers a listener; events arrive in batches. Cancel the returned handle to stop.
    pub fn subscribe(&self, listener: Arc<dyn WalletListener>) -> Arc<Subscription> {
        self.core.events.add(listener)
    }

    /// True when opening found the encryption key lost or changed and started the cache again
    /// (the app says so and the user signs in again; nothing is lost on the server).
    pub fn key_was_reset(&self) -> bool {
        self.core.key_was_reset
    }

    /// The app came to the foreground (`true`) or went to the background.
    pub fn set_foreground(&self, foreground: bool) {
        if foreground {
            self.core
                .resume_now
                .store(true, std::sync::atomic::Ordering::Relaxed);
            self.core.wake.notify_one();
        }
    }

    /// The platform reports connectivity changes; regaining it resumes the outbox at once.
    pub fn network_changed(&self, available: bool) {
        if available {
            self.core
                .resume_now
                .store(true, std::sync::atomic::Ordering::Relaxed);
            self.core.wake.notify_one();
        }
    }

    /// The user's own receive code (optionally for a fixed amount). Works offline.
    pub fn receive_code(&self, amount: Option<Amount>) -> Result<String, CoreError> {
        loc(&self.core, crate::qr::receive_code(&self.core, amount))
    }
}

#[derive(uniffi::Object)]
pub struct SessionApi {
    core: Arc<Core>,
}

#[uniffi::export(async_runtime = "tokio")]
impl SessionApi {
    pub async fn send_register_code(&self, phone: String) -> Result<CodeSent, CoreError> {
        loc(
            &self.core,
            crate::session::send_register_code(&self.core, &phone).await,
        )
    }

    pub async fn register(
        &self,
        phone: String,
        code: String,
        password: String,
        full_name: String,
        id_last4: String,
    ) -> Result<Profile, CoreError> {
        loc(
            &self.core,
            crate::session::register(&self.core, &phone, &code, &password, &full_name, &id_last4)
                .await,
        )
    }

    pub async fn login(&self, phone: String, password: String) -> Result<LoginResult, CoreError> {
        loc(
            &self.core,
            crate::session::login(&self.core, &phone, &password).await,
        )
    }

    pub async fn submit_login_code(&self, code: String) -> Result<Profile, CoreError> {
        loc(
            &self.core,
            crate::session::submit_login_code(&self.core, &code).await,
        )
    }

    pub async fn logout(&self) -> Result<(), CoreError> {
        loc(&self.core, crate::session::logout(&self.core).await)
    }

    pub async fn send_reset_code(&self, phone: String) -> Result<CodeSent, CoreError> {
        loc(
            &self.core,
            crate::session::send_reset_code(&self.core, &phone).await,
        )
    }

    pub async fn reset_password(
        &self,
        phone: String,
        code: String,
        new_password: String,
    ) -> Result<(), CoreError> {
        loc(
            &self.core,
            crate::session::reset_password(&self.core, &phone, &code, &new_password).await,
        )
    }

    pub async fn change_password(
        &self,
        current: String,
        new_password: String,
    ) -> Result<(), CoreError> {
        loc(
            &self.core,
            crate::session::change_password(&self.core, &current, &new_password).await,
        )
    }

    pub async fn send_unlock_code(&self, phone: String) -> Result<CodeSent, CoreError> {
        loc(
            &self.core,
            crate::session::send_unlock_code(&self.core, &phone).await,
        )
    }

    pub async fn unlock_account(
        &self,
        phone: String,
        code: String,
        full_name: String,
        id_last4: String,
    ) -> Result<(), CoreError> {
        loc(
            &self.core,
            crate::session::unlock_account(&self.core, &phone, &code, &full_name, &id_last4).await,
        )
    }

    /// The signed-in user from the cache (no network).
    pub fn profile(&self) -> Option<Profile> {
        self.core.auth().map(|a| Profile::from(&a.session.user))
    }

    pub async fn refresh_profile(&self) -> Result<Profile, CoreError> {
        loc(
            &self.core,
            crate::session::refresh_profile(&self.core).await,
        )
    }

    pub async fn devices(&self) -> Result<Vec<DeviceEntry>, CoreError> {
        loc(&self.core, crate::session::devices(&self.core).await)
    }

    pub async fn sign_out_device(&self, device_id: String) -> Result<(), CoreError> {
        loc(
            &self.core,
            crate::session::sign_out_device(&self.core, &device_id).await,
        )
    }

    pub async fn sign_out_other_devices(&self) -> Result<(), CoreError> {
        loc(
            &self.core,
            crate::session::sign_out_other_devices(&self.core).await,
        )
    }

    /// Registers this device's payment key (done on first confirmation otherwise).
    pub async fn enable_payment_confirmation(&self) -> Result<(), CoreError> {
        loc(
            &self.core,
            crate::session::ensure_signing_key(&self.core).await,
        )
    }

    pub fn lock_app(&self) {
        self.core.lock();
    }

    pub fn is_app_locked(&self) -> bool {
        self.core.is_locked()
    }

    /// Unlocks the app after the platform checked PIN or biometrics (through the key store).
    pub async fn unlock_app(&self, reason: String) -> Result<(), CoreError> {
        loc(
            &self.core,
            crate::session::unlock_app(&self.core, &reason).await,
        )
    }
}

#[derive(uniffi::Object)]
pub struct PaymentsApi {
    core: Arc<Core>,
}

#[uniffi::export(async_runtime = "tokio")]
impl PaymentsApi {
    pub async fn transfer(
        &self,
        to: PayeeInput,
        amount: Option<Amount>,
        note: Option<String>,
    ) -> Result<PaymentOutcome, CoreError> {
        loc(
            &self.core,
            crate::payments::transfer(&self.core, to, amount, note).await,
        )
    }

    pub async fn lookup_payee(&self, to: PayeeInput) -> Result<PayeeView, CoreError> {
        loc(
            &self.core,
            crate::payments::lookup_payee(&self.core, to).await,
        )
    }

    pub fn recent_payees(&self, limit: u32) -> Result<Vec<RecentPayee>, CoreError> {
        let core = &self.core;
        loc(
            core,
            (|| {
                let (user, _) = core.unlocked_user()?;
                core.store.read(|c| {
                    crate::store::mirror::recent_payees(c, &core.cipher, &user, limit.min(100))
                })
            })(),
        )
    }

    pub async fn check_merchant(&self, qr: String) -> Result<MerchantInfo, CoreError> {
        loc(
            &self.core,
            crate::payments::check_merchant(&self.core, &qr).await,
        )
    }

    pub async fn pay_merchant(
        &self,
        qr: String,
        amount: Option<Amount>,
        fx_quote_id: Option<String>,
        note: Option<String>,
    ) -> Result<PaymentOutcome, CoreError> {
        loc(
            &self.core,
            crate::payments::pay_merchant(&self.core, qr, amount, fx_quote_id, note).await,
        )
    }

    pub async fn top_up(
        &self,
        card_id: Option<String>,
        amount: Amount,
    ) -> Result<PaymentOutcome, CoreError> {
        loc(
            &self.core,
            crate::payments::top_up(&self.core, card_id, amount).await,
        )
    }

    pub async fn withdraw(
        &self,
        card_id: Option<String>,
        amount: Amount,
    ) -> Result<PaymentOutcome, CoreError> {
        loc(
            &self.core,
            crate::payments::withdraw(&self.core, card_id, amount).await,
        )
    }

    pub async fn withdrawals(&self) -> Result<Vec<WithdrawalView>, CoreError> {
        loc(&self.core, crate::payments::withdrawals(&self.core).await)
    }

    pub async fn cards(&self, refresh: bool) -> Result<Vec<CardView>, CoreError> {
        loc(
            &self.core,
            crate::payments::cards(&self.core, refresh).await,
        )
    }

    pub async fn link_card(
        &self,
        number: String,
        expiry_month: u8,
        expiry_year: u16,
        holder_name: String,
        cvv: Option<String>,
    ) -> Result<CardView, CoreError> {
        loc(
            &self.core,
            crate::payments::link_card(
                &self.core,
                number,
                expiry_month,
                expiry_year,
                holder_name,
                cvv,
            )
            .await,
        )
    }

    pub async fn remove_card(&self, card_id: String) -> Result<(), CoreError> {
        loc(
            &self.core,
            crate::payments::remove_card(&self.core, &card_id).await,
        )
    }

    pub async fn set_default_card(&self, card_id: String) -> Result<(), CoreError> {
        loc(
            &self.core,
            crate::payments::set_default_card(&self.core, &card_id).await,
        )
    }

    pub async fn fx_quote(
        &self,
        from: String,
        to: String,
        sell: Option<Amount>,
        buy: Option<Amount>,
    ) -> Result<FxQuoteView, CoreError> {
        loc(
            &self.core,
            crate::payments::fx_quote(&self.core, from, to, sell, buy).await,
        )
    }

    pub async fn convert(&self, quote_id: String) -> Result<PaymentOutcome, CoreError> {
        loc(
            &self.core,
            crate::payments::convert(&self.core, quote_id).await,
        )
    }

    /// Confirms an item waiting for strong customer authentication; `reason` is shown by the
    /// platform's PIN/biometric prompt.
    pub async fn confirm_payment(
        &self,
        item_id: String,
        reason: String,
    ) -> Result<PaymentOutcome, CoreError> {
        loc(
            &self.core,
            crate::payments::confirm_payment(&self.core, &item_id, &reason).await,
        )
    }

    pub fn cancel(&self, item_id: String) -> Result<OutboxItem, CoreError> {
        loc(&self.core, crate::payments::cancel(&self.core, &item_id))
    }

    /// The outbox, newest first (at most 100).
    pub fn outbox(&self, limit: u32) -> Result<Vec<OutboxItem>, CoreError> {
        loc(&self.core, crate::payments::outbox_items(&self.core, limit))
    }

    /// "This wasn't me" for a transaction (or the account): freezes it for protection.
    pub async fn report_not_me(
        &self,
        transaction_id: Option<String>,
    ) -> Result<NotMeOutcome, CoreError> {
        loc(
            &self.core,
            crate::payments::not_me(&self.core, transaction_id).await,
        )
    }
}

#[derive(uniffi::Object)]
pub struct HistoryApi {
    core: Arc<Core>,
}

#[uniffi::export]
impl HistoryApi {
    /// A page (at most 100) of cached history matching `filter`, newest first.
    pub fn page(
        &self,
        filter: HistoryFilter,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<HistoryPage, CoreError> {
        loc(
            &self.core,
            crate::history::page(&self.core, &filter, cursor.as_deref(), limit),
        )
    }

    pub fn get(&self, id: String) -> Result<Option<TransactionView>, CoreError> {
        loc(&self.core, crate::history::by_id(&self.core, &id))
    }
}

#[derive(uniffi::Object)]
pub struct InsightsApi {
    core: Arc<Core>,
}

#[uniffi::export]
impl InsightsApi {
    pub fn spending_by_category(
        &self,
        from: i64,
        to: i64,
        currency: String,
    ) -> Result<Vec<CategoryTotal>, CoreError> {
        loc(
            &self.core,
            crate::insights::by_category(&self.core, from, to, &currency),
        )
    }

    pub fn spending_by_merchant(
        &self,
        from: i64,
        to: i64,
        currency: String,
        limit: u32,
    ) -> Result<Vec<MerchantTotal>, CoreError> {
        loc(
            &self.core,
            crate::insights::by_merchant(&self.core, from, to, &currency, limit),
        )
    }

    /// Income, spending and spending by category per month (`yyyymm`, inclusive).
    pub fn monthly(
        &self,
        from_month: i32,
        to_month: i32,
        currency: String,
    ) -> Result<Vec<MonthSummary>, CoreError> {
        loc(
            &self.core,
            crate::insights::monthly(&self.core, from_month, to_month, &currency),
        )
    }

    pub fn statement(&self, month: i32, currency: String) -> Result<Statement, CoreError> {
        loc(
            &self.core,
            crate::insights::statement(&self.core, month, &currency),
        )
    }

    pub fn add_reminder(
        &self,
        name: String,
        day_of_month: u8,
        amount: Option<Amount>,
        currency: String,
    ) -> Result<Reminder, CoreError> {
        loc(
            &self.core,
            crate::insights::add_reminder(&self.core, &name, day_of_month, amount, &currency),
        )
    }

    pub fn reminders(&self) -> Result<Vec<Reminder>, CoreError> {
        loc(&self.core, crate::insights::reminders(&self.core))
    }

    pub fn mark_reminder_paid(&self, id: String) -> Result<Reminder, CoreError> {
        loc(
            &self.core,
            crate::insights::mark_reminder_paid(&self.core, &id),
        )
    }

    pub fn remove_reminder(&self, id: String) -> Result<(), CoreError> {
        loc(
            &self.core,
            crate::insights::remove_reminder(&self.core, &id),
        )
    }

    pub fn recurring_bills(&self, currency: String) -> Result<Vec<RecurringBill>, CoreError> {
        loc(
            &self.core,
            crate::insights::recurring_bills(&self.core, &currency),
        )
    }
}

#[derive(uniffi::Object)]
pub struct SyncApi {
    core: Arc<Core>,
}

#[uniffi::export(async_runtime = "tokio")]
impl SyncApi {
    /// Pulls every change since the cursor.
    pub async fn sync_now(&self) -> Result<SyncReport, CoreError> {
        loc(&self.core, crate::sync::pull::sync_now(&self.core).await)
    }

    /// Sends every due outbox item now; returns how many were tried.
    pub async fn flush_outbox(&self) -> Result<u32, CoreError> {
        loc(
            &self.core,
            crate::sync::push::flush(&self.core).await.map(|n| n as u32),
        )
    }
}

/// The help center: the article bundle is downloaded once per language and versioned; browsing,
/// search, suggestions and articles then work offline. `locale` `None` means the app's locale;
/// `zh…` selects the Chinese bundle, anything else the English one.
#[derive(uniffi::Object)]
pub struct HelpApi {
    core: Arc<Core>,
}

impl HelpApi {
    fn locale(&self, locale: Option<String>) -> String {
        locale.unwrap_or_else(|| self.core.settings.locale.clone())
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl HelpApi {
    /// Downloads the bundle unless the cached version is current (`304`); a new version
    /// replaces the cached one. Public: works before sign-in.
    pub async fn sync_bundle(
        &self,
        locale: Option<String>,
    ) -> Result<crate::help::HelpSyncReport, CoreError> {
        let locale = self.locale(locale);
        loc(
            &self.core,
            crate::help::sync_bundle(&self.core, &locale).await,
        )
    }

    /// The cached bundle's version and dates; `None` before the first download.
    pub fn bundle_info(
        &self,
        locale: Option<String>,
    ) -> Result<Option<crate::help::HelpBundleInfo>, CoreError> {
        loc(
            &self.core,
            crate::help::info(&self.core, &self.locale(locale)),
        )
    }

    pub fn categories(
        &self,
        locale: Option<String>,
    ) -> Result<Vec<crate::help::HelpCategoryView>, CoreError> {
        loc(
            &self.core,
            crate::help::categories(&self.core, &self.locale(locale)),
        )
    }

    /// Article summaries, optionally of one category.
    pub fn articles(
        &self,
        category: Option<String>,
        locale: Option<String>,
    ) -> Result<Vec<crate::help::HelpArticleSummary>, CoreError> {
        loc(
            &self.core,
            crate::help::articles(&self.core, &self.locale(locale), category.as_deref()),
        )
    }

    /// Opens an article from the cache (`None`: not in the cached bundle).
    pub fn article(
        &self,
        id: String,
        locale: Option<String>,
    ) -> Result<Option<crate::help::HelpArticleView>, CoreError> {
        loc(
            &self.core,
            crate::help::article(&self.core, &self.locale(locale), &id),
        )
    }

    /// Offline search of a finished question, best first (`limit` 1–20).
    pub fn search(
        &self,
        question: String,
        limit: u32,
        locale: Option<String>,
    ) -> Result<Vec<crate::help::HelpSearchHit>, CoreError> {
        loc(
            &self.core,
            crate::help::search(&self.core, &self.locale(locale), &question, limit),
        )
    }

    /// Articles for a question still being typed (call on every keystroke; offline, well
    /// under a millisecond).
    pub fn suggest(
        &self,
        partial: String,
        limit: u32,
        locale: Option<String>,
    ) -> Result<Vec<crate::help::HelpArticleSummary>, CoreError> {
        loc(
            &self.core,
            crate::help::suggest(&self.core, &self.locale(locale), &partial, limit),
        )
    }
}

/// Notices and the network check. Everything here is public (works before sign-in); the
/// network calls fall back to the last cached answer (`from_cache`) when uPay cannot be
/// reached, so the maintenance notice and the hotline stay visible offline.
#[derive(uniffi::Object)]
pub struct NoticesApi {
    core: Arc<Core>,
}

#[uniffi::export(async_runtime = "tokio")]
impl NoticesApi {
    /// Announcements and maintenance windows in the app's language, most important first,
    /// each with `dismissed`. Show the ones not dismissed, then call [`Self::dismiss`].
    pub async fn announcements(&self) -> Result<crate::notices::NoticeList, CoreError> {
        loc(&self.core, crate::notices::announcements(&self.core).await)
    }

    /// The cached announcements, without network (empty before the first fetch).
    pub fn cached_announcements(&self) -> Result<crate::notices::NoticeList, CoreError> {
        loc(&self.core, crate::notices::cached_announcements(&self.core))
    }

    /// The user saw (or closed) a notice: it is not shown again on this device.
    pub fn dismiss(&self, id: String) -> Result<(), CoreError> {
        loc(&self.core, crate::notices::dismiss(&self.core, &id))
    }

    pub async fn status(&self) -> Result<crate::notices::StatusView, CoreError> {
        loc(&self.core, crate::notices::status(&self.core).await)
    }

    pub fn cached_status(&self) -> Result<Option<crate::notices::StatusView>, CoreError> {
        loc(&self.core, crate::notices::cached_status(&self.core))
    }

    /// Whether the running app (`app_version`, e.g. `2.1.0`) may or must update;
    /// `force_update` blocks the app. Offline, the last policy is applied on the device.
    pub async fn check_version(
        &self,
        app_version: String,
    ) -> Result<crate::notices::VersionView, CoreError> {
        loc(
            &self.core,
            crate::notices::check_version(&self.core, &app_version).await,
        )
    }

    /// Hotline, e-mail, social accounts and hours.
    pub async fn contact_channels(&self) -> Result<crate::notices::ContactChannelsView, CoreError> {
        loc(
            &self.core,
            crate::notices::contact_channels(&self.core).await,
        )
    }

    pub fn cached_contact_channels(
        &self,
    ) -> Result<Option<crate::notices::ContactChannelsView>, CoreError> {
        loc(
            &self.core,
            crate::notices::cached_contact_channels(&self.core),
        )
    }

    /// The network check (网络检查): DNS, TCP, TLS and HTTP timing to the backend and a
    /// plain-language verdict. `network_available` is the platform's connectivity state.
    /// Throws when the check cannot start (this device's configuration). Fallible also so the
    /// bindings can end a cancelled call with an error: a non-throwing Swift `async` function
    /// has no way to.
    pub async fn network_check(
        &self,
        network_available: bool,
    ) -> Result<crate::netcheck::NetCheckReport, CoreError> {
        loc(
            &self.core,
            crate::netcheck::run(&self.core, network_available).await,
        )
    }
}

/// The text of a network-check verdict in `locale` (`zh…` Chinese, else English): title and
/// message, for an app that stored the verdict.
#[uniffi::export]
pub fn net_verdict_text(verdict: crate::netcheck::NetVerdict, locale: String) -> Vec<String> {
    let (title, message) =
        crate::netcheck::verdict_text(verdict, crate::config::is_chinese(&locale));
    vec![title, message]
}

/// Support chat: a durable send queue with local echo, message states, catch-up of live
/// events, typing and read markers. Text is encrypted at rest.
#[derive(uniffi::Object)]
pub struct ChatApi {
    core: Arc<Core>,
}

#[uniffi::export(async_runtime = "tokio")]
impl ChatApi {
    /// Opens the user's conversation (or resumes the open one) and loads its newest messages.
    pub async fn open(&self) -> Result<crate::chat::ChatConversationView, CoreError> {
        loc(&self.core, crate::chat::open(&self.core).await)
    }

    /// The current conversation from the cache (offline).
    pub fn conversation(&self) -> Result<Option<crate::chat::ChatConversationView>, CoreError> {
        loc(&self.core, crate::chat::conversation(&self.core))
    }

    /// Queues a message and tries to send the queue; returns the local echo (its `local_id`
    /// stays when the server's copy replaces it).
    pub async fn send_text(&self, text: String) -> Result<crate::chat::ChatMessageView, CoreError> {
        loc(&self.core, crate::chat::send_text(&self.core, &text).await)
    }

    /// Sends the queued messages in order (call when the network returns); how many went.
    pub async fn flush(&self) -> Result<u32, CoreError> {
        loc(&self.core, crate::chat::flush(&self.core).await)
    }

    /// Puts a message that failed permanently back in the queue.
    pub fn retry(&self, local_id: String) -> Result<bool, CoreError> {
        loc(&self.core, crate::chat::retry(&self.core, &local_id))
    }

    /// The newest `limit` messages, oldest first, queued ones last (offline).
    pub fn messages(&self, limit: u32) -> Result<Vec<crate::chat::ChatMessageView>, CoreError> {
        loc(&self.core, crate::chat::messages(&self.core, limit))
    }

    /// Applies the events after the last applied one, waiting up to `wait_secs` (0–30).
    pub async fn poll(&self, wait_secs: u32) -> Result<crate::chat::ChatPollResult, CoreError> {
        loc(&self.core, crate::chat::poll(&self.core, wait_secs).await)
    }

    /// Typing started/stopped: throttled, never queued; returns whether it was sent.
    pub async fn set_typing(&self, typing: bool) -> Result<bool, CoreError> {
        loc(
            &self.core,
            crate::chat::set_typing(&self.core, typing).await,
        )
    }

    /// Starts live updates over the WebSocket (reconnecting with backoff and catching up
    /// from the last applied event); keep the handle, `stop()` it when the chat closes.
    pub fn live(
        &self,
        listener: Arc<dyn crate::chat_live::ChatListener>,
    ) -> Arc<crate::chat_live::ChatLive> {
        crate::chat_live::start(self.core.clone(), listener)
    }

    /// Rates resolution `resolution` (score 1–5); queued like a message, sent once.
    pub async fn rate(
        &self,
        resolution: u32,
        score: u8,
        comment: Option<String>,
    ) -> Result<crate::chat::ChatMessageView, CoreError> {
        loc(
            &self.core,
            crate::chat::rate(&self.core, resolution, score, comment).await,
        )
    }

    /// Loads older messages (scrolling back, or the full history after a reinstall); returns
    /// whether more remain.
    pub async fn load_older(&self, limit: u32) -> Result<bool, CoreError> {
        loc(&self.core, crate::chat::load_older(&self.core, limit).await)
    }

    /// Writes the redacted transcript to the file `path`; returns its size in bytes.
    pub async fn export_transcript(&self, path: String) -> Result<u64, CoreError> {
        loc(
            &self.core,
            crate::chat::export_transcript(&self.core, &path).await,
        )
    }

    /// The UI showed the messages up to `seq`; returns the read marker now sent.
    pub async fn mark_read(&self, up_to_seq: u64) -> Result<u64, CoreError> {
        loc(
            &self.core,
            crate::chat::mark_read(&self.core, up_to_seq).await,
        )
    }

    /// Queues 1–4 screenshots (each at most 5 MB) with an optional caption, like a text
    /// message: sent once, in order with the texts; returns the local echo.
    pub async fn send_screenshots(
        &self,
        images: Vec<Vec<u8>>,
        caption: String,
    ) -> Result<crate::chat::ChatMessageView, CoreError> {
        loc(
            &self.core,
            crate::chat::send_screenshots(&self.core, images, &caption).await,
        )
    }

    /// The bytes of screenshot `index` of message `local_id` (the user's own), if available.
    pub async fn screenshot(
        &self,
        local_id: String,
        index: u32,
    ) -> Result<Option<Vec<u8>>, CoreError> {
        loc(
            &self.core,
            crate::chat::screenshot(&self.core, &local_id, index).await,
        )
    }

    /// Writes the redacted transcript as JSON to the file `path`; returns its size in bytes.
    pub async fn export_transcript_json(&self, path: String) -> Result<u64, CoreError> {
        loc(
            &self.core,
            crate::chat::export_transcript_json(&self.core, &path).await,
        )
    }

    /// The user's tickets from the cache, newest first (offline).
    pub fn tickets(&self) -> Result<Vec<crate::chat::ChatTicketView>, CoreError> {
        loc(&self.core, crate::chat::tickets(&self.core))
    }

    /// Hands the conversation over as a ticket (the `create_ticket` action).
    pub async fn create_ticket(
        &self,
        subject: String,
        description: String,
    ) -> Result<crate::chat::ChatTicketView, CoreError> {
        loc(
            &self.core,
            crate::chat::create_ticket(&self.core, &subject, &description).await,
        )
    }

    /// Answers a ticket waiting for the user.
    pub async fn comment_ticket(
        &self,
        ticket_id: String,
        text: String,
    ) -> Result<crate::chat::ChatTicketView, CoreError> {
        loc(
            &self.core,
            crate::chat::comment_ticket(&self.core, &ticket_id, &text).await,
        )
    }
}

/// Product feedback (a durable queue: filed once, also when written offline, with
/// screenshots) with its status and staff replies, and satisfaction surveys.
#[derive(uniffi::Object)]
pub struct FeedbackApi {
    core: Arc<Core>,
}

#[uniffi::export(async_runtime = "tokio")]
impl FeedbackApi {
    /// Stores feedback (1–2000 characters, up to 4 screenshots) and tries to send it; offline
    /// it waits as `Pending` for `flush`.
    pub async fn submit(
        &self,
        category: crate::feedback::FeedbackCategory,
        text: String,
        screenshots: Vec<Vec<u8>>,
    ) -> Result<crate::feedback::FeedbackView, CoreError> {
        loc(
            &self.core,
            crate::feedback::submit(&self.core, category, &text, screenshots).await,
        )
    }

    /// Sends the queued feedback in order (call when the network returns); how many went.
    pub async fn flush(&self) -> Result<u32, CoreError> {
        loc(&self.core, crate::feedback::flush(&self.core).await)
    }

    /// Puts feedback that failed permanently back in the queue.
    pub fn retry(&self, id: String) -> Result<bool, CoreError> {
        loc(&self.core, crate::feedback::retry(&self.core, &id))
    }

    /// The user's feedback from the cache, unsent first, then newest first (offline).
    pub fn list(&self) -> Result<Vec<crate::feedback::FeedbackView>, CoreError> {
        loc(&self.core, crate::feedback::list_cached(&self.core))
    }

    /// Fetches statuses and staff replies into the cache; returns the list.
    pub async fn refresh(&self) -> Result<Vec<crate::feedback::FeedbackView>, CoreError> {
        loc(&self.core, crate::feedback::refresh(&self.core).await)
    }

    /// The surveys waiting for an answer (online).
    pub async fn surveys(&self) -> Result<Vec<crate::feedback::SurveyView>, CoreError> {
        loc(&self.core, crate::feedback::surveys(&self.core).await)
    }

    /// Answers a survey (once per cycle).
    pub async fn answer_survey(
        &self,
        survey_id: String,
        answers: Vec<crate::feedback::SurveyAnswerInput>,
    ) -> Result<crate::feedback::SurveyReceiptView, CoreError> {
        loc(
            &self.core,
            crate::feedback::answer_survey(&self.core, &survey_id, answers).await,
        )
    }
}

/// The in-store payment code. The secret is wrapped by the platform key store; codes are
/// derived on the device every 60 seconds with no network.
#[derive(uniffi::Object)]
pub struct PaycodeApi {
    core: Arc<Core>,
}

#[uniffi::export(async_runtime = "tokio")]
impl PaycodeApi {
    /// Turns the payment code on for this device (or rotates its secret). Online only.
    pub async fn enable(&self) -> Result<crate::paycode::PaycodeInfo, CoreError> {
        loc(&self.core, crate::paycode::enable(&self.core).await)
    }

    /// Revokes the payment code on the server and forgets it here. Online only.
    pub async fn disable(&self) -> Result<(), CoreError> {
        loc(&self.core, crate::paycode::disable(&self.core).await)
    }

    /// Asks the server whether the codes are still accepted and what is left for today.
    pub async fn status(&self) -> Result<crate::paycode::PaycodeInfo, CoreError> {
        loc(&self.core, crate::paycode::status(&self.core).await)
    }

    /// What the device knows with no network.
    pub fn info(&self) -> Result<crate::paycode::PaycodeInfo, CoreError> {
        loc(&self.core, crate::paycode::cached_info(&self.core))
    }

    /// The code to show now (works offline); ask again after `refresh_in_secs`.
    pub fn current_code(&self) -> Result<crate::paycode::PaycodeView, CoreError> {
        loc(&self.core, crate::paycode::current_code(&self.core))
    }
}

/// Savings: the cached overview and yield history, refreshed online; moves in and out are
/// outbox items (queued offline, sent once).
#[derive(uniffi::Object)]
pub struct SavingsApi {
    core: Arc<Core>,
}

#[uniffi::export(async_runtime = "tokio")]
impl SavingsApi {
    /// Fetches balances and recent yields; without network answers from the cache.
    pub async fn refresh(&self) -> Result<crate::savings::SavingsView, CoreError> {
        loc(&self.core, crate::savings::refresh(&self.core).await)
    }

    /// The cached overview (no network); `None` before the first refresh.
    pub fn cached(&self) -> Result<Option<crate::savings::SavingsView>, CoreError> {
        loc(&self.core, crate::savings::cached(&self.core))
    }

    /// Cached daily yields, newest first.
    pub fn yields(
        &self,
        currency: Option<String>,
        limit: u32,
    ) -> Result<Vec<crate::savings::SavingsYieldView>, CoreError> {
        loc(
            &self.core,
            crate::savings::yields(&self.core, currency, limit),
        )
    }

    /// Wallet → savings.
    pub async fn deposit(&self, amount: Amount) -> Result<PaymentOutcome, CoreError> {
        loc(
            &self.core,
            crate::savings::deposit(&self.core, amount).await,
        )
    }

    /// Savings → wallet.
    pub async fn withdraw(&self, amount: Amount) -> Result<PaymentOutcome, CoreError> {
        loc(
            &self.core,
            crate::savings::withdraw(&self.core, amount).await,
        )
    }
}
