//! The accountant's reports read a period a page at a time, oldest first,
//! so a month of a million holds is streamed without being held in memory.
//! What a caller may see is decided here as for every other read: a read
//! scope, and a property-restricted token sees its own properties only.

use chittycharge_domain::{Hold, Timestamp};
use chittycharge_store::{ClaimFilter, DamageClaim, HoldFilter};

use super::{Caller, CoreError, CoreResult, HoldService};

/// Holds or claims per page: large enough that a page's round trip is
/// small beside its rows, small enough that a page is a few hundred KB.
pub const REPORT_PAGE: i64 = 500;

/// Holds created in `[from, to)`, on one property or all the caller sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPeriod {
    pub from: Timestamp,
    pub to: Timestamp,
    pub property_id: Option<String>,
}

impl ReportPeriod {
    pub fn new(from: Timestamp, to: Timestamp, property_id: Option<String>) -> CoreResult<Self> {
        if to <= from {
            return Err(CoreError::validation("to", "to must be after from"));
        }
        Ok(Self { from, to, property_id })
    }
}

/// Where the next page starts: after this (created_at, id).
pub type ReportCursor = Option<(Timestamp, String)>;

impl HoldService {
    /// The next page of the period's holds, oldest first, each with what is
    /// under dispute of it.
    pub async fn report_holds(
        &self,
        period: &ReportPeriod,
        after: ReportCursor,
        caller: &Caller,
    ) -> CoreResult<Vec<(Hold, i64)>> {
        caller.require_read()?;
        let filter = HoldFilter {
            property_id: period.property_id.clone(),
            property_scope: caller.property_ids.clone(),
            created_gte: Some(period.from),
            created_lt: Some(period.to),
            oldest_first: true,
            after,
            limit: REPORT_PAGE,
            ..HoldFilter::default()
        };
        let holds = self.store.list_holds(&filter).await?;
        let ids: Vec<String> = holds.iter().map(|h| h.id.clone()).collect();
        let disputed: std::collections::HashMap<String, i64> =
            self.store.disputed_amounts(&ids).await?.into_iter().collect();
        Ok(holds
            .into_iter()
            .map(|h| {
                let d = disputed.get(&h.id).copied().unwrap_or(0);
                (h, d)
            })
            .collect())
    }

    /// The next page of the period's damage claims, oldest first.
    pub async fn report_claims(
        &self,
        period: &ReportPeriod,
        after: ReportCursor,
        caller: &Caller,
    ) -> CoreResult<Vec<DamageClaim>> {
        caller.require_read()?;
        let filter = ClaimFilter {
            property_id: period.property_id.clone(),
            property_scope: caller.property_ids.clone(),
            created_gte: Some(period.from),
            created_lt: Some(period.to),
            after,
            limit: REPORT_PAGE,
        };
        Ok(self.store.list_claims(&filter).await?)
    }
}
