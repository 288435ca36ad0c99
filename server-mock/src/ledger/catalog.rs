//! Reference data the mock serves from code rather than the database (so a reset never loses
//! it): currencies with their mid rates, countries and regions, and the merchants whose codes
//! the wallet accepts.

use upay_protocol::api::money::{Category, Country, CurrencyInfo};
use upay_protocol::money::Currency;
use upay_protocol::qr::{MerchantCode, QrPayload};

/// (code, zh name, en name, CNY per one major unit as an exact decimal, wallet can hold it).
/// Mid rates are fixed so tests and demos are reproducible.
const CURRENCIES: &[(&str, &str, &str, &str, bool)] = &[
    ("CNY", "人民币", "Chinese Yuan", "1", true),
    ("HKD", "港币", "Hong Kong Dollar", "0.9123", true),
    ("USD", "美元", "US Dollar", "7.1234", true),
    ("EUR", "欧元", "Euro", "7.7456", true),
    ("GBP", "英镑", "British Pound", "9.0321", true),
    ("JPY", "日元", "Japanese Yen", "0.048", true),
    ("KRW", "韩元", "South Korean Won", "0.0052", true),
    ("SGD", "新加坡元", "Singapore Dollar", "5.3012", true),
    ("AUD", "澳元", "Australian Dollar", "4.7005", true),
    ("NZD", "新西兰元", "New Zealand Dollar", "4.3001", true),
    ("CAD", "加元", "Canadian Dollar", "5.2003", true),
    ("CHF", "瑞士法郎", "Swiss Franc", "8.1002", true),
    ("MOP", "澳门元", "Macanese Pataca", "0.8857", true),
    ("MYR", "马来西亚林吉特", "Malaysian Ringgit", "1.5201", true),
    ("THB", "泰铢", "Thai Baht", "0.2001", true),
    ("TWD", "新台币", "New Taiwan Dollar", "0.2203", true),
    // Three-decimal currencies can be quoted but not held: the wallet's cards and payouts do
    // not support them, which gives developers a real `unsupported_currency` path.
    ("KWD", "科威特第纳尔", "Kuwaiti Dinar", "23.2015", false),
    ("BHD", "巴林第纳尔", "Bahraini Dinar", "18.9012", false),
];

fn entry(
    c: Currency,
) -> Option<&'static (&'static str, &'static str, &'static str, &'static str, bool)> {
    CURRENCIES.iter().find(|e| e.0 == c.code())
}

/// CNY per one major unit of `c` (mid market).
pub fn mid_rate_to_cny(c: Currency) -> Option<upay_protocol::rate::Rate> {
    entry(c).and_then(|e| upay_protocol::rate::Rate::parse(e.3).ok())
}

/// The wallet can hold a balance in `c`.
pub fn wallet_supported(c: Currency) -> bool {
    entry(c).is_some_and(|e| e.4)
}

pub fn currencies() -> Vec<CurrencyInfo> {
    CURRENCIES
        .iter()
        .filter_map(|(code, zh, en, _, wallet)| {
            let c = Currency::parse(code).ok()?;
            Some(CurrencyInfo {
                code: c,
                exponent: c.exponent(),
                name_zh: (*zh).to_owned(),
                name_en: (*en).to_owned(),
                wallet_supported: *wallet,
                fx_supported: true,
            })
        })
        .collect()
}

/// (ISO code, zh, en, currency, payments, transfers).
const COUNTRIES: &[(&str, &str, &str, &str, bool, bool)] = &[
    ("CN", "中国大陆", "Chinese Mainland", "CNY", true, true),
    ("HK", "中国香港", "Hong Kong SAR, China", "HKD", true, true),
    ("MO", "中国澳门", "Macao SAR, China", "MOP", true, true),
    ("TW", "中国台湾", "Taiwan, China", "TWD", true, false),
    ("US", "美国", "United States", "USD", true, false),
    ("GB", "英国", "United Kingdom", "GBP", true, false),
    ("DE", "德国", "Germany", "EUR", true, false),
    ("FR", "法国", "France", "EUR", true, false),
    ("JP", "日本", "Japan", "JPY", true, false),
    ("KR", "韩国", "South Korea", "KRW", true, false),
    ("SG", "新加坡", "Singapore", "SGD", true, true),
    ("MY", "马来西亚", "Malaysia", "MYR", true, false),
    ("TH", "泰国", "Thailand", "THB", true, false),
    ("AU", "澳大利亚", "Australia", "AUD", true, false),
    ("NZ", "新西兰", "New Zealand", "NZD", true, false),
    ("CA", "加拿大", "Canada", "CAD", true, false),
    ("CH", "瑞士", "Switzerland", "CHF", true, false),
    ("KW", "科威特", "Kuwait", "KWD", false, false),
    ("BH", "巴林", "Bahrain", "BHD", false, false),
];

pub fn countries() -> Vec<Country> {
    COUNTRIES
        .iter()
        .filter_map(|(code, zh, en, ccy, pay, transfer)| {
            Some(Country {
                code: (*code).to_owned(),
                name_zh: (*zh).to_owned(),
                name_en: (*en).to_owned(),
                currency: Currency::parse(ccy).ok()?,
                payments_supported: *pay,
                transfers_supported: *transfer,
            })
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MerchantStatus {
    Active,
    /// Not signed up for uPay payments.
    NotSupported,
    /// Reported for fraud: payments are blocked by risk.
    Blocked,
}

#[derive(Debug, Clone, Copy)]
pub struct Merchant {
    pub id: &'static str,
    /// Registered name, as printed on its code.
    pub name: &'static str,
    /// English name, for search.
    pub name_en: &'static str,
    pub currency: Currency,
    pub country: &'static str,
    pub category: Category,
    pub status: MerchantStatus,
}

const fn m(
    id: &'static str,
    name: &'static str,
    name_en: &'static str,
    currency: Currency,
    country: &'static str,
    category: Category,
    status: MerchantStatus,
) -> Merchant {
    Merchant {
        id,
        name,
        name_en,
        currency,
        country,
        category,
        status,
    }
}

use Category as C;
use MerchantStatus::{Active, Blocked, NotSupported};

pub const MERCHANTS: &[Merchant] = &[
    m(
        "M0000000001",
        "瑞幸咖啡",
        "Luckin Coffee",
        Currency::CNY,
        "CN",
        C::Food,
        Active,
    ),
    m(
        "M0000000002",
        "美团外卖",
        "Meituan Delivery",
        Currency::CNY,
        "CN",
        C::Food,
        Active,
    ),
    m(
        "M0000000003",
        "滴滴出行",
        "DiDi Rides",
        Currency::CNY,
        "CN",
        C::Transport,
        Active,
    ),
    m(
        "M0000000004",
        "京东商城",
        "JD.com",
        Currency::CNY,
        "CN",
        C::Shopping,
        Active,
    ),
    m(
        "M0000000005",
        "国家电网",
        "State Grid Electricity",
        Currency::CNY,
        "CN",
        C::Bills,
        Active,
    ),
    m(
        "M0000000006",
        "万达影城",
        "Wanda Cinemas",
        Currency::CNY,
        "CN",
        C::Entertainment,
        Active,
    ),
    m(
        "M0000000007",
        "全家便利店",
        "FamilyMart",
        Currency::CNY,
        "CN",
        C::Food,
        Active,
    ),
    m(
        "M0000000008",
        "上海地铁",
        "Shanghai Metro",
        Currency::CNY,
        "CN",
        C::Transport,
        Active,
    ),
    m(
        "M0000000009",
        "中国移动",
        "China Mobile",
        Currency::CNY,
        "CN",
        C::Bills,
        Active,
    ),
    m(
        "M0000000010",
        "盒马鲜生",
        "Freshippo",
        Currency::CNY,
        "CN",
        C::Shopping,
        Active,
    ),
    m(
        "M0000000011",
        "海底捞火锅",
        "Haidilao Hot Pot",
        Currency::CNY,
        "CN",
        C::Food,
        Active,
    ),
    m(
        "M0000000012",
        "屈臣氏",
        "Watsons",
        Currency::CNY,
        "CN",
        C::Health,
        Active,
    ),
    m(
        "M0000000013",
        "携程旅行",
        "Trip.com",
        Currency::CNY,
        "CN",
        C::Travel,
        Active,
    ),
    m(
        "M0000000014",
        "新东方在线",
        "New Oriental Online",
        Currency::CNY,
        "CN",
        C::Education,
        Active,
    ),
    m(
        "M0000000021",
        "美心西饼",
        "Maxim's Cakes Hong Kong",
        Currency::HKD,
        "HK",
        C::Food,
        Active,
    ),
    m(
        "M0000000022",
        "Apple Store Fifth Avenue",
        "Apple Store New York",
        Currency::USD,
        "US",
        C::Shopping,
        Active,
    ),
    m(
        "M0000000023",
        "ローソン 渋谷店",
        "Lawson Shibuya Tokyo",
        Currency::JPY,
        "JP",
        C::Food,
        Active,
    ),
    m(
        "M0000000031",
        "街角小卖部",
        "Corner Kiosk",
        Currency::CNY,
        "CN",
        C::Shopping,
        NotSupported,
    ),
    m(
        "M0000000032",
        "高回报投资咨询",
        "High Return Investment Advice",
        Currency::CNY,
        "CN",
        C::Other,
        Blocked,
    ),
];

pub fn merchant(id: &str) -> Option<&'static Merchant> {
    MERCHANTS.iter().find(|m| m.id == id)
}

impl Merchant {
    /// The merchant's printed code (without a fixed amount).
    pub fn qr(&self) -> String {
        QrPayload::Merchant(MerchantCode {
            merchant_id: self.id.to_owned(),
            name: self.name.to_owned(),
            currency: self.currency,
            amount: None,
        })
        .encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_data_is_consistent() {
        for c in Currency::all() {
            assert!(mid_rate_to_cny(c).is_some(), "{c} has no mid rate");
        }
        assert_eq!(countries().len(), COUNTRIES.len());
        for m in MERCHANTS {
            assert!(upay_protocol::qr::is_merchant_id(m.id), "{}", m.id);
            assert!(QrPayload::decode(&m.qr()).is_ok(), "{}", m.id);
        }
    }
}
