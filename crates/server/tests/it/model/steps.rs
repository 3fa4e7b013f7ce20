//! The steps of a sequence and the strategies that generate them.

use proptest::prelude::*;
use proptest::sample::Index;

use crate::model::{MAX_STEPS, MIN_STEPS, NEW_GUEST_LIMIT};

/// An `Idempotency-Key` on a mutating call: none, the same request twice
/// (the second must be a byte-for-byte replay), or the key reused with
/// another body (409 `idempotency_error`, nothing happens).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Idem {
    None,
    Replay,
    Mismatch,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Amount {
    Minimum,
    Small,
    Typical,
    Large,
    AtLimit,
    Zero,
    BelowMinimum,
    OverLimit,
}

impl Amount {
    pub(crate) fn minor(self) -> i64 {
        match self {
            Amount::Minimum => 50,
            Amount::Small => 1_234,
            Amount::Typical => 25_000,
            Amount::Large => 100_000,
            Amount::AtLimit => NEW_GUEST_LIMIT,
            Amount::Zero => 0,
            Amount::BelowMinimum => 49,
            Amount::OverLimit => NEW_GUEST_LIMIT + 1,
        }
    }
}

/// How much a capture takes: everything (empty body), a share in per mille
/// of the capturable amount, or one more than capturable.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Take {
    Full,
    Part(u16),
    Over,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Rival {
    Capture(Take),
    Cancel,
}

impl Rival {
    pub(crate) fn take(self) -> Option<Take> {
        match self {
            Rival::Capture(t) => Some(t),
            Rival::Cancel => None,
        }
    }
}

/// The new total of an increment.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Raise {
    Same,
    By(i64),
    PastTierLimit,
}

/// One damage line.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Line {
    Fixed(i64),
    /// Per mille of the hold's amount.
    Share(u16),
    Zero,
    Negative,
    AboveCapturable,
    Max,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Who {
    ReadOnly,
    OtherProperty,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Mutation {
    CreateHold,
    Confirm,
    Capture,
    Cancel,
    Increment,
    CreateBooking,
    Authorize,
    Checkout,
    Claim,
    PutProperty,
}

/// Picks an existing hold or booking: when `fit`, among those in a state
/// the step can act on (if there are any), else among all.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pick {
    pub(crate) fit: bool,
    pub(crate) at: Index,
}

#[derive(Debug, Clone)]
pub(crate) enum Step {
    CreateHold { second_property: bool, amount: Amount, card: bool, idem: Idem },
    Confirm { hold: Pick, idem: Idem },
    Capture { hold: Pick, take: Take, idem: Idem },
    RacingPair { hold: Pick, first: Take, second: Rival },
    Cancel { hold: Pick, idem: Idem },
    Increment { hold: Pick, raise: Raise, idem: Idem },
    Disconnect { hold: Pick, take: Take, timeout_ms: u64, keyed: bool },
    CreateBooking { second_property: bool, id: u8, stay_days: u8, idem: Idem },
    Authorize { booking: Pick, card: bool, idem: Idem },
    ParallelAuthorize { booking: Pick, calls: usize, card: bool },
    Checkout { booking: Pick, damages: Vec<Line>, defer: bool, idem: Idem },
    Claim { booking: Pick, damages: Vec<Line>, idem: Idem },
    Tick { secs: i64 },
    Forbidden { who: Who, what: Mutation, hold: Pick, booking: Pick },
}

fn idem() -> impl Strategy<Value = Idem> {
    prop_oneof![6 => Just(Idem::None), 3 => Just(Idem::Replay), 1 => Just(Idem::Mismatch)]
}

fn pick() -> impl Strategy<Value = Pick> {
    (prop::bool::weighted(0.8), any::<Index>()).prop_map(|(fit, at)| Pick { fit, at })
}

fn take() -> impl Strategy<Value = Take> {
    prop_oneof![3 => Just(Take::Full), 4 => (1u16..1000).prop_map(Take::Part), 1 => Just(Take::Over)]
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        6 => (1i64..=3_000).prop_map(Line::Fixed),
        4 => (1u16..=1000).prop_map(Line::Share),
        1 => Just(Line::Zero),
        1 => Just(Line::Negative),
        1 => Just(Line::AboveCapturable),
        1 => Just(Line::Max),
    ]
}

fn damages() -> impl Strategy<Value = Vec<Line>> {
    prop::collection::vec(line(), 0..=3)
}

fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        2 => Just(Amount::Minimum),
        3 => Just(Amount::Small),
        4 => Just(Amount::Typical),
        2 => Just(Amount::Large),
        1 => Just(Amount::AtLimit),
        1 => Just(Amount::Zero),
        1 => Just(Amount::BelowMinimum),
        1 => Just(Amount::OverLimit),
    ]
}

fn raise() -> impl Strategy<Value = Raise> {
    prop_oneof![1 => Just(Raise::Same), 4 => (1i64..=60_000).prop_map(Raise::By), 1 => Just(Raise::PastTierLimit)]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::CreateHold),
        Just(Mutation::Confirm),
        Just(Mutation::Capture),
        Just(Mutation::Cancel),
        Just(Mutation::Increment),
        Just(Mutation::CreateBooking),
        Just(Mutation::Authorize),
        Just(Mutation::Checkout),
        Just(Mutation::Claim),
        Just(Mutation::PutProperty),
    ]
}

/// Clock moves; odd sizes so that sums rarely land on a deadline.
fn tick() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(3 * 3_600 + 17 * 60 + 11),
        Just(86_400 + 5 * 3_600 + 13),
        Just(2 * 86_400 + 7 * 3_600 + 29),
        Just(5 * 86_400 + 3 * 3_600 + 31),
        Just(8 * 86_400 + 11 * 3_600 + 7),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (any::<bool>(), amount(), prop::bool::weighted(0.6), idem())
            .prop_map(|(second_property, amount, card, idem)| Step::CreateHold { second_property, amount, card, idem }),
        2 => (pick(), idem()).prop_map(|(hold, idem)| Step::Confirm { hold, idem }),
        3 => (pick(), take(), idem()).prop_map(|(hold, take, idem)| Step::Capture { hold, take, idem }),
        2 => (pick(), take(), prop_oneof![take().prop_map(Rival::Capture), Just(Rival::Cancel)])
            .prop_map(|(hold, first, second)| Step::RacingPair { hold, first, second }),
        2 => (pick(), idem()).prop_map(|(hold, idem)| Step::Cancel { hold, idem }),
        2 => (pick(), raise(), idem()).prop_map(|(hold, raise, idem)| Step::Increment { hold, raise, idem }),
        1 => (pick(), take(), prop_oneof![Just(1u64), Just(2), Just(4), Just(8)], any::<bool>())
            .prop_map(|(hold, take, timeout_ms, keyed)| Step::Disconnect { hold, take, timeout_ms, keyed }),
        3 => (any::<bool>(), 0u8..4, 1u8..=9, idem()).prop_map(|(second_property, id, stay_days, idem)| {
            Step::CreateBooking { second_property, id, stay_days, idem }
        }),
        4 => (pick(), prop::bool::weighted(0.7), idem())
            .prop_map(|(booking, card, idem)| Step::Authorize { booking, card, idem }),
        2 => (pick(), 2usize..=4, any::<bool>())
            .prop_map(|(booking, calls, card)| Step::ParallelAuthorize { booking, calls, card }),
        4 => (pick(), damages(), prop::bool::weighted(0.4), idem())
            .prop_map(|(booking, damages, defer, idem)| Step::Checkout { booking, damages, defer, idem }),
        3 => (pick(), damages(), idem()).prop_map(|(booking, damages, idem)| Step::Claim { booking, damages, idem }),
        3 => tick().prop_map(|secs| Step::Tick { secs }),
        3 => (prop_oneof![Just(Who::ReadOnly), Just(Who::OtherProperty)], mutation(), pick(), pick())
            .prop_map(|(who, what, hold, booking)| Step::Forbidden { who, what, hold, booking }),
    ]
}

pub(crate) fn sequence() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(step(), MIN_STEPS..=MAX_STEPS)
}
