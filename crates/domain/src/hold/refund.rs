//! Refunds of a captured hold: how much may still go back, and the
//! processor's refunded total folded in.

use super::errors::RefundRefused;
use super::Captured;
use crate::money::PositiveAmount;

impl Captured {
    /// What the processor has refunded of the capture.
    pub fn refunded(&self) -> i64 {
        self.refunded
    }

    /// What may still be refunded.
    pub fn refundable(&self) -> i64 {
        self.captured.saturating_sub(self.refunded).max(0)
    }

    /// The amount a refund request would refund: all that is left when
    /// `requested` is `None`.
    pub fn check_refund(&self, requested: Option<PositiveAmount>) -> Result<i64, RefundRefused> {
        let refundable = self.refundable();
        match requested {
            _ if refundable == 0 => Err(RefundRefused::ExceedsRefundable {
                requested: requested.map_or(0, PositiveAmount::minor),
                refundable,
            }),
            None => Ok(refundable),
            Some(a) if a.minor() > refundable => {
                Err(RefundRefused::ExceedsRefundable { requested: a.minor(), refundable })
            }
            Some(a) => Ok(a.minor()),
        }
    }

    /// The processor's refunded total, as it reports it: it goes down as
    /// well as up (a refund can fail at the bank after it was accepted),
    /// and never outside what was captured.
    pub(crate) fn with_refunded(self, total: Option<i64>) -> Captured {
        match total {
            Some(t) => Captured { refunded: t.clamp(0, self.captured), ..self },
            None => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    fn captured(amount: i64) -> Captured {
        Captured { authorized: 25_000, captured: amount, captured_at: Timestamp::from_millis(1), refunded: 0 }
    }

    #[test]
    fn a_capture_is_refunded_in_parts_up_to_what_was_captured_and_no_further() {
        let c = captured(10_000);
        let part = PositiveAmount::new(4_000).unwrap();
        assert_eq!(c.check_refund(Some(part)), Ok(4_000));
        let c = c.with_refunded(Some(4_000));
        assert_eq!((c.refunded(), c.refundable()), (4_000, 6_000));
        assert_eq!(c.check_refund(None), Ok(6_000), "no amount: the rest");
        assert_eq!(
            c.check_refund(Some(PositiveAmount::new(6_001).unwrap())),
            Err(RefundRefused::ExceedsRefundable { requested: 6_001, refundable: 6_000 })
        );
        let c = c.with_refunded(Some(10_000));
        assert_eq!(c.check_refund(None), Err(RefundRefused::ExceedsRefundable { requested: 0, refundable: 0 }));
    }

    #[test]
    fn the_processors_total_is_kept_within_the_capture_and_an_unreported_one_changes_nothing() {
        let c = captured(10_000).with_refunded(Some(3_000));
        assert_eq!(c.clone().with_refunded(None).refunded(), 3_000);
        assert_eq!(c.clone().with_refunded(Some(1_000)).refunded(), 1_000, "a failed refund lowers it");
        assert_eq!(c.clone().with_refunded(Some(99_999)).refunded(), 10_000);
        assert_eq!(c.with_refunded(Some(-1)).refunded(), 0);
    }
}
