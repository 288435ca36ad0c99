//! Demo money for every new sandbox: Zhang Wei with CNY 12,345.67, USD 500.00 and HKD
//! 1,000.00 available, a default VISA ****4242, and six months of varied history (merchants in
//! Chinese and English, transfers with Li Na, top-ups, withdrawals — one failed, one still on
//! its way — conversions, a refund, a payment under risk review); Li Na with CNY 3,000.00.
//!
//! The history is planned first (deterministically), then walked backwards from the target
//! balances, dropping any event the balance could not have afforded; what remains at the start
//! becomes an opening credit. Then everything is written through the ledger in time order, so
//! the demo obeys the same rules (and passes the same audit) as live traffic.

use std::collections::BTreeMap;

use rusqlite::Connection;
use upay_protocol::api::money::{
    Category, Counterparty, CounterpartyKind, FxDetail, FxQuote, RiskAction, RiskDecision,
    RiskReason, TransactionKind, TransactionStatus,
};
use upay_protocol::money::{Currency, Money};

use super::catalog::{self, Merchant};
use super::control::{Rng, credit_from_outside};
use super::funding::{self, NewWithdrawal, WITHDRAWAL_DELAY_MS};
use super::records::{self, NewRow};
use super::store::{self, AccountKind, Leg, Phase};
use super::{cards, fx, holds};
use crate::error::{ApiError, ApiResult};

pub const ZHANG: &str = "U0000000001";
pub const LI: &str = "U0000000002";
const DAY: i64 = 24 * 3600 * 1000;
const MINUTE: i64 = 60 * 1000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum WithdrawalEnd {
    Settled,
    Failed,
    Pending,
}

#[derive(Clone, Copy)]
enum Ev {
    Pay {
        user: &'static str,
        merchant: &'static Merchant,
        amount: i64,
        note: Option<&'static str>,
        held: bool,
    },
    Transfer {
        from: &'static str,
        to: &'static str,
        amount: i64,
        note: Option<&'static str>,
    },
    TopUp {
        amount: i64,
    },
    Withdraw {
        amount: i64,
        end: WithdrawalEnd,
    },
    Convert {
        to: Currency,
        sell: i64,
    },
    Refund {
        merchant: &'static Merchant,
        amount: i64,
    },
}

fn cny(minor: i64) -> Money {
    Money {
        minor,
        currency: Currency::CNY,
    }
}

fn merchant(id: &str) -> &'static Merchant {
    catalog::merchant(id).expect("demo merchants are in the catalogue")
}

/// (merchant, lowest, highest amount in minor units, weight, note).
const HABITS: &[(&str, i64, i64, u64, Option<&str>)] = &[
    ("M0000000001", 1_500, 3_800, 14, Some("生椰拿铁")),
    ("M0000000002", 2_500, 12_000, 12, Some("午饭")),
    ("M0000000003", 1_200, 8_000, 9, None),
    ("M0000000004", 5_000, 80_000, 5, None),
    ("M0000000006", 4_000, 12_000, 3, Some("周末电影")),
    ("M0000000007", 800, 4_500, 10, None),
    ("M0000000008", 300, 800, 12, None),
    ("M0000000010", 3_000, 30_000, 6, Some("groceries")),
    ("M0000000011", 15_000, 50_000, 2, Some("Team dinner")),
    ("M0000000012", 3_000, 20_000, 3, None),
    ("M0000000013", 30_000, 200_000, 1, Some("出差机票")),
    ("M0000000014", 20_000, 100_000, 1, Some("English course")),
];

fn pick_habit(rng: &mut Rng) -> (&'static Merchant, i64, Option<&'static str>) {
    let total: u64 = HABITS.iter().map(|h| h.3).sum();
    let mut roll = rng.next_u64() % total;
    for (id, lo, hi, weight, note) in HABITS {
        if roll < *weight {
            let note = if rng.next_u64() % 3 == 0 { *note } else { None };
            return (merchant(id), rng.range(*lo, *hi), note);
        }
        roll -= weight;
    }
    unreachable!("the roll is below the total weight")
}

fn plan(now: i64) -> Vec<(i64, Ev)> {
    let mut rng = Rng::new(0x00D3_3300);
    let mut plan: Vec<(i64, Ev)> = Vec::new();
    let start = now - 180 * DAY;
    let transfer_notes = [
        Some("AA 聚餐"),
        Some("房租分摊"),
        Some("Movie tickets"),
        None,
        Some("还你的钱"),
        Some("生日快乐"),
    ];
    for day in 0..180 {
        let base = start + day * DAY;
        let at = |rng: &mut Rng| base + rng.range(8 * 60, 22 * 60) * MINUTE;
        for _ in 0..(1 + rng.next_u64() % 2) {
            if rng.next_u64() % 5 < 4 {
                let (m, amount, note) = pick_habit(&mut rng);
                let t = at(&mut rng);
                plan.push((
                    t,
                    Ev::Pay {
                        user: ZHANG,
                        merchant: m,
                        amount,
                        note,
                        held: false,
                    },
                ));
            }
        }
        if day % 6 == 3 {
            let (m, amount, note) = pick_habit(&mut rng);
            let t = at(&mut rng);
            plan.push((
                t,
                Ev::Pay {
                    user: LI,
                    merchant: m,
                    amount,
                    note,
                    held: false,
                },
            ));
        }
        if day % 12 == 5 {
            let note = transfer_notes[(day / 12) as usize % transfer_notes.len()];
            let (from, to) = if (day / 12) % 3 == 2 {
                (LI, ZHANG)
            } else {
                (ZHANG, LI)
            };
            let t = at(&mut rng);
            plan.push((
                t,
                Ev::Transfer {
                    from,
                    to,
                    amount: rng.range(50, 800) * 100,
                    note,
                },
            ));
        }
        if day % 30 == 10 {
            let t = at(&mut rng);
            plan.push((
                t,
                Ev::TopUp {
                    amount: rng.range(20, 50) * 10_000,
                },
            ));
        }
        if day % 7 == 2 {
            let t = at(&mut rng);
            plan.push((
                t,
                Ev::Pay {
                    user: ZHANG,
                    merchant: merchant("M0000000008"),
                    amount: 600,
                    note: None,
                    held: false,
                },
            ));
        }
    }
    let day = |d: i64, h: i64| now - d * DAY + h * 60 * MINUTE;
    plan.extend([
        (
            day(160, 10),
            Ev::Withdraw {
                amount: 100_000,
                end: WithdrawalEnd::Settled,
            },
        ),
        (
            day(100, 15),
            Ev::Withdraw {
                amount: 50_013,
                end: WithdrawalEnd::Failed,
            },
        ),
        (
            day(60, 11),
            Ev::Withdraw {
                amount: 80_000,
                end: WithdrawalEnd::Settled,
            },
        ),
        (
            day(150, 9),
            Ev::Convert {
                to: Currency::USD,
                sell: 200_000,
            },
        ),
        (
            day(90, 9),
            Ev::Convert {
                to: Currency::USD,
                sell: 200_000,
            },
        ),
        (
            day(40, 20),
            Ev::Convert {
                to: Currency::USD,
                sell: 150_000,
            },
        ),
        (
            day(120, 9),
            Ev::Convert {
                to: Currency::HKD,
                sell: 150_000,
            },
        ),
        (
            day(118, 13),
            Ev::Pay {
                user: ZHANG,
                merchant: merchant("M0000000021"),
                amount: 8_650,
                note: Some("蛋挞"),
                held: false,
            },
        ),
        (
            day(117, 16),
            Ev::Pay {
                user: ZHANG,
                merchant: merchant("M0000000021"),
                amount: 12_800,
                note: None,
                held: false,
            },
        ),
        (
            day(85, 14),
            Ev::Pay {
                user: ZHANG,
                merchant: merchant("M0000000022"),
                amount: 12_900,
                note: Some("AirTag"),
                held: false,
            },
        ),
        (
            day(30, 19),
            Ev::Pay {
                user: ZHANG,
                merchant: merchant("M0000000022"),
                amount: 4_999,
                note: None,
                held: false,
            },
        ),
        (
            day(100, 12),
            Ev::Refund {
                merchant: merchant("M0000000004"),
                amount: 19_900,
            },
        ),
        (
            day(2, 21),
            Ev::Pay {
                user: ZHANG,
                merchant: merchant("M0000000004"),
                amount: 66_666,
                note: Some("显示器"),
                held: true,
            },
        ),
        (
            now - 30 * MINUTE,
            Ev::Withdraw {
                amount: 30_000,
                end: WithdrawalEnd::Pending,
            },
        ),
    ]);
    plan.sort_by_key(|(at, _)| *at);
    plan
}

type Balances = BTreeMap<(&'static str, Currency), i64>;

/// Changes of available money (user, currency, delta) an event makes.
type Effects = Vec<(&'static str, Currency, i64)>;

/// The changes an event makes, and what Zhang's CNY must hold before it.
fn effects(ev: &Ev) -> ApiResult<(Effects, i64)> {
    Ok(match *ev {
        Ev::Pay {
            user,
            merchant,
            amount,
            ..
        } => (vec![(user, merchant.currency, -amount)], 0),
        Ev::Transfer {
            from, to, amount, ..
        } => (
            vec![(from, Currency::CNY, -amount), (to, Currency::CNY, amount)],
            0,
        ),
        Ev::TopUp { amount } => (vec![(ZHANG, Currency::CNY, amount)], 0),
        Ev::Withdraw { amount, end } => {
            let total = amount + funding::withdrawal_fee(cny(amount))?.minor;
            match end {
                // Reserved, then given back: it only needs the money to be there.
                WithdrawalEnd::Failed => (vec![], total),
                _ => (vec![(ZHANG, Currency::CNY, -total)], 0),
            }
        }
        Ev::Convert { to, sell } => {
            let q = quote(to, sell, 0)?;
            (
                vec![
                    (ZHANG, Currency::CNY, -q.total_debit.minor),
                    (ZHANG, to, q.buy.minor),
                ],
                0,
            )
        }
        Ev::Refund { amount, .. } => (vec![(ZHANG, Currency::CNY, amount)], 0),
    })
}

fn quote(to: Currency, sell: i64, at: i64) -> ApiResult<FxQuote> {
    let rate = fx::customer_rate(Currency::CNY, to)?;
    let (sell, fee, buy) = fx::amounts(rate, Currency::CNY, to, cny(sell))?;
    Ok(FxQuote {
        id: super::new_id("q_"),
        from: Currency::CNY,
        to,
        rate,
        sell,
        fee,
        total_debit: sell.checked_add(fee).map_err(ApiError::internal)?,
        buy,
        created_at: at,
        expires_at: at + fx::QUOTE_TTL_MS,
    })
}

/// Keeps the events the target balances could have afforded; returns them with the opening
/// balances they need.
fn afford(plan: Vec<(i64, Ev)>, mut balances: Balances) -> ApiResult<(Vec<(i64, Ev)>, Balances)> {
    let mut kept = Vec::with_capacity(plan.len());
    for (at, ev) in plan.into_iter().rev() {
        let (changes, needs) = effects(&ev)?;
        let before: Vec<_> = changes
            .iter()
            .map(|(u, c, d)| ((*u, *c), balances.get(&(*u, *c)).copied().unwrap_or(0) - d))
            .collect();
        let zhang_cny = balances.get(&(ZHANG, Currency::CNY)).copied().unwrap_or(0);
        if before.iter().any(|(_, b)| *b < 0) || zhang_cny < needs {
            continue;
        }
        balances.extend(before);
        kept.push((at, ev));
    }
    kept.reverse();
    Ok((kept, balances))
}

/// Seeds the demo money. Runs in the transaction that created the demo users.
pub fn seed_demo(conn: &Connection, now: i64) -> ApiResult<()> {
    let targets: Balances = [
        ((ZHANG, Currency::CNY), 1_234_567),
        ((ZHANG, Currency::USD), 50_000),
        ((ZHANG, Currency::HKD), 100_000),
        ((LI, Currency::CNY), 300_000),
    ]
    .into_iter()
    .collect();
    let (events, openings) = afford(plan(now), targets)?;
    let zhang_card = cards::link_number(
        conn,
        ZHANG,
        "4242 4242 4242 4242",
        (12, 2030),
        "ZHANG WEI",
        now - 300 * DAY,
    )?;
    cards::link_number(
        conn,
        ZHANG,
        "5555 5555 5555 4444",
        (8, 2029),
        "ZHANG WEI",
        now - 200 * DAY,
    )?;
    cards::link_number(
        conn,
        LI,
        "6200 0000 0000 0005",
        (3, 2031),
        "LI NA",
        now - 250 * DAY,
    )?;
    let zhang_card = cards::find(conn, ZHANG, Some(&zhang_card.id))?;
    let names: BTreeMap<&str, String> = [ZHANG, LI]
        .into_iter()
        .map(|id| Ok((id, crate::auth::store::require_user(conn, id)?.full_name)))
        .collect::<ApiResult<_>>()?;
    let mut sink = Vec::new();
    let opening_at = now - 181 * DAY;
    for ((user, currency), minor) in openings.into_iter().filter(|(_, m)| *m > 0) {
        let amount = Money { minor, currency };
        credit_from_outside(
            conn,
            user,
            amount,
            "上海星辰科技有限公司 工资",
            Some("工资"),
            opening_at,
            &mut sink,
        )?;
    }
    let card_party = Counterparty {
        kind: CounterpartyKind::Card,
        id: zhang_card.card.id.clone(),
        name: zhang_card.label(),
    };
    for (at, ev) in events {
        let w = Writer {
            conn,
            at,
            names: &names,
        };
        match ev {
            Ev::Pay {
                user,
                merchant,
                amount,
                note,
                held,
            } => w.pay(user, merchant, amount, note, held)?,
            Ev::Transfer {
                from,
                to,
                amount,
                note,
            } => w.transfer(from, to, amount, note)?,
            Ev::TopUp { amount } => w.top_up(amount, &card_party)?,
            Ev::Withdraw { amount, end } => {
                w.withdraw(amount, end, &zhang_card, &card_party, &mut sink)?
            }
            Ev::Convert { to, sell } => w.convert(to, sell)?,
            Ev::Refund { merchant, amount } => w.refund(merchant, amount)?,
        }
    }
    Ok(())
}

/// Writes one planned event at its time.
struct Writer<'a> {
    conn: &'a Connection,
    at: i64,
    names: &'a BTreeMap<&'a str, String>,
}

impl Writer<'_> {
    fn row<'b>(
        &self,
        user_id: &'b str,
        posting_id: i64,
        kind: TransactionKind,
        amount: Money,
        counterparty: Counterparty,
        category: Category,
    ) -> NewRow<'b> {
        NewRow {
            user_id,
            posting_id,
            kind,
            status: TransactionStatus::Settled,
            amount,
            fee: 0,
            counterparty: Some(counterparty),
            note: None,
            category,
            merchant: None,
            fx: None,
            hold_id: None,
            created_at: self.at,
        }
    }

    fn merchant_party(m: &Merchant) -> Counterparty {
        Counterparty {
            kind: CounterpartyKind::Merchant,
            id: m.id.to_owned(),
            name: m.name.to_owned(),
        }
    }

    fn pay(
        &self,
        user: &str,
        m: &'static Merchant,
        amount: i64,
        note: Option<&str>,
        held: bool,
    ) -> ApiResult<()> {
        let amount = Money {
            minor: amount,
            currency: m.currency,
        };
        let phase = if held { Phase::Pending } else { Phase::Posted };
        let legs = [
            Leg::wallet(user, amount.negate()),
            Leg {
                owner: m.id,
                kind: AccountKind::Merchant,
                amount,
            },
        ];
        let (posting_id, _) = store::record(self.conn, "merchant_payment", &legs, phase, self.at)?;
        let hold_id = held.then(|| super::new_id("hold_"));
        let status = if held {
            TransactionStatus::Pending
        } else {
            TransactionStatus::Settled
        };
        let mut row = self.row(
            user,
            posting_id,
            TransactionKind::MerchantPayment,
            amount.negate(),
            Self::merchant_party(m),
            m.category,
        );
        row.status = status;
        row.note = note;
        row.merchant = Some(m);
        row.hold_id = hold_id.as_deref();
        let txn = records::insert(self.conn, &row)?;
        if let Some(hold_id) = hold_id {
            let decision = RiskDecision {
                action: RiskAction::Hold,
                rule_id: "magic_amount".to_owned(),
                score: 0,
                reasons: vec![RiskReason {
                    rule_id: "magic_amount".to_owned(),
                    message: "测试金额触发的风控结果".to_owned(),
                }],
            };
            holds::create(
                self.conn, &hold_id, user, &txn.id, posting_id, &decision, self.at,
            )?;
        }
        Ok(())
    }

    fn transfer(
        &self,
        from: &'static str,
        to: &'static str,
        amount: i64,
        note: Option<&str>,
    ) -> ApiResult<()> {
        let amount = cny(amount);
        let (posting_id, _) = store::record(
            self.conn,
            "transfer",
            &[Leg::wallet(from, amount.negate()), Leg::wallet(to, amount)],
            Phase::Posted,
            self.at,
        )?;
        let party = |id: &str| Counterparty {
            kind: CounterpartyKind::User,
            id: id.to_owned(),
            name: self.names.get(id).cloned().unwrap_or_default(),
        };
        for (user, kind, amount, other) in [
            (from, TransactionKind::TransferOut, amount.negate(), to),
            (to, TransactionKind::TransferIn, amount, from),
        ] {
            let mut row = self.row(
                user,
                posting_id,
                kind,
                amount,
                party(other),
                Category::Transfer,
            );
            row.note = note;
            records::insert(self.conn, &row)?;
        }
        Ok(())
    }

    fn top_up(&self, amount: i64, card: &Counterparty) -> ApiResult<()> {
        let amount = cny(amount);
        let (posting_id, _) = store::record(
            self.conn,
            "top_up",
            &[
                Leg::system(AccountKind::CardNetwork, amount.negate()),
                Leg::wallet(ZHANG, amount),
            ],
            Phase::Posted,
            self.at,
        )?;
        records::insert(
            self.conn,
            &self.row(
                ZHANG,
                posting_id,
                TransactionKind::TopUp,
                amount,
                card.clone(),
                Category::TopUp,
            ),
        )?;
        Ok(())
    }

    fn withdraw(
        &self,
        amount: i64,
        end: WithdrawalEnd,
        card: &cards::CardRow,
        party: &Counterparty,
        sink: &mut Vec<crate::events::ServerEvent>,
    ) -> ApiResult<()> {
        let amount = cny(amount);
        let fee = funding::withdrawal_fee(amount)?;
        let total = amount.checked_add(fee).map_err(ApiError::internal)?;
        let legs = [
            Leg::wallet(ZHANG, total.negate()),
            Leg::system(AccountKind::WithdrawalClearing, amount),
            Leg::system(AccountKind::Fees, fee),
        ];
        let (posting_id, _) =
            store::record(self.conn, "withdrawal", &legs, Phase::Pending, self.at)?;
        let mut row = self.row(
            ZHANG,
            posting_id,
            TransactionKind::Withdrawal,
            amount.negate(),
            party.clone(),
            Category::Withdrawal,
        );
        row.status = TransactionStatus::Pending;
        row.fee = fee.minor;
        let txn = records::insert(self.conn, &row)?;
        funding::insert_withdrawal(
            self.conn,
            &NewWithdrawal {
                user_id: ZHANG,
                transaction_id: &txn.id,
                posting_id,
                card,
                amount,
                fee,
                due_at: self.at + WITHDRAWAL_DELAY_MS,
                fails: end == WithdrawalEnd::Failed,
                on_hold: false,
                now: self.at,
            },
        )?;
        let done_at = self.at + WITHDRAWAL_DELAY_MS;
        match end {
            WithdrawalEnd::Settled => funding::settle(self.conn, posting_id, amount, done_at, sink),
            WithdrawalEnd::Failed => funding::fail(
                self.conn,
                posting_id,
                upay_protocol::api::money::FailureCode::BankRejected,
                done_at,
                sink,
            ),
            WithdrawalEnd::Pending => Ok(()),
        }
    }

    fn convert(&self, to: Currency, sell: i64) -> ApiResult<()> {
        let q = quote(to, sell, self.at)?;
        let legs = fx::conversion_legs(ZHANG, &q, Leg::wallet(ZHANG, q.buy));
        let (posting_id, _) =
            store::record(self.conn, "fx_conversion", &legs, Phase::Posted, self.at)?;
        let own = Counterparty {
            kind: CounterpartyKind::Own,
            id: ZHANG.to_owned(),
            name: format!("{} → {}", q.from, q.to),
        };
        let mut row = self.row(
            ZHANG,
            posting_id,
            TransactionKind::FxConversion,
            q.sell.negate(),
            own,
            Category::Exchange,
        );
        row.fee = q.fee.minor;
        row.fx = Some(FxDetail {
            rate: q.rate,
            counter_amount: q.buy,
        });
        records::insert(self.conn, &row)?;
        Ok(())
    }

    fn refund(&self, m: &'static Merchant, amount: i64) -> ApiResult<()> {
        let amount = cny(amount);
        let legs = [
            Leg {
                owner: m.id,
                kind: AccountKind::Merchant,
                amount: amount.negate(),
            },
            Leg::wallet(ZHANG, amount),
        ];
        let (posting_id, _) = store::record(self.conn, "refund", &legs, Phase::Posted, self.at)?;
        let mut row = self.row(
            ZHANG,
            posting_id,
            TransactionKind::Refund,
            amount,
            Self::merchant_party(m),
            Category::Refund,
        );
        row.merchant = Some(m);
        row.note = Some("退货退款");
        records::insert(self.conn, &row)?;
        Ok(())
    }
}
