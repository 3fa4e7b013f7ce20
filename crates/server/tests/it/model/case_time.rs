//! Time: moving the test clock and the jobs that follow it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::model::case::{field, same, Case, Res};
use crate::model::reference::{millis, tier_limit, Bs, Hs, MHold};
use crate::model::{CLOCK_MARGIN_MS, JOBS_WITHIN};

impl Case {
    /// Moves the clock; lapsed holds expire, closed claim windows release,
    /// long stays are re-authorized. The model accepts exactly those changes.
    pub(crate) async fn tick(&mut self, secs: i64) -> Res {
        let before = self.m.now_ms;
        self.w.advance(secs).await?;
        let mut now = self.w.now_ms().await?;
        // Deadlines too close to the clock are not predicted: step past them.
        for _ in 0..3 {
            let near = |t: i64| (t - now).abs() < CLOCK_MARGIN_MS;
            let close = self.m.holds.iter().any(|h| h.status == Hs::Authorized && h.capture_before.is_some_and(near))
                || self.m.bookings.iter().any(|b| b.status == Bs::CheckedOut && b.claim_until.is_some_and(near));
            if !close {
                break;
            }
            self.w.advance(2 * CLOCK_MARGIN_MS / 1000).await?;
            now = self.w.now_ms().await?;
        }
        self.m.now_ms = now;
        self.note(format!("tick {secs} s: clock {before} -> {now}"));
        // Wait for what must happen: lapsed holds leave requires_capture,
        // bookings whose claim window closed settle.
        let start = Instant::now();
        let (views, bookings) = loop {
            let views = self.list_holds().await?;
            let bookings = self.list_bookings().await?;
            let lapsed = self.m.holds.iter().any(|h| {
                h.status == Hs::Authorized
                    && h.capture_before.is_some_and(|cb| cb <= now)
                    && views.get(&h.id).is_some_and(|v| v["status"] == "requires_capture")
            });
            let unsettled = self.m.bookings.iter().any(|b| {
                b.status == Bs::CheckedOut
                    && b.claim_until.is_some_and(|t| t <= now)
                    && bookings.get(&(b.prop, b.id.clone())).is_some_and(|v| v["status"] != "settled")
            });
            if !(lapsed || unsettled) {
                break (views, bookings);
            }
            if start.elapsed() > JOBS_WITHIN {
                return Err(format!(
                    "{JOBS_WITHIN:?} after the clock moved: lapsed hold still requires_capture: {lapsed}, \
                     closed claim window not settled: {unsettled}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // Re-authorizations: new holds marked `reauthorizes` a known hold.
        let mut learned = true;
        while learned {
            learned = false;
            for (id, v) in &views {
                if self.m.hold_index(id).is_some() {
                    continue;
                }
                let Some(old) = v["metadata"]["reauthorizes"].as_str().and_then(|o| self.m.hold_index(o)) else {
                    continue;
                };
                let status = Hs::parse(v["status"].as_str().unwrap_or("")).ok_or_else(|| format!("hold {id}: {v}"))?;
                let prev = self.m.holds[old].clone();
                if field(v, "amount") != prev.amount {
                    return Err(format!("re-authorization {id} of {} is for {v}, not {}", prev.id, prev.amount));
                }
                self.m.holds.push(MHold {
                    id: id.clone(),
                    prop: prev.prop,
                    booking: prev.booking,
                    status,
                    amount: prev.amount,
                    captured: field(v, "amount_captured"),
                    released: field(v, "amount_released"),
                    tier_limit: tier_limit(v["tier"].as_str().unwrap_or("")),
                    capture_before: millis(&v["capture_before"]),
                    increments: 0,
                    reauthorizes: Some(prev.id.clone()),
                });
                if status.terminal() {
                    self.m.terminal.insert(id.clone(), status);
                }
                self.note(format!("learned re-authorization {id} of {} ({})", prev.id, status.name()));
                self.count("tick: re-authorization");
                learned = true;
            }
        }
        let replaced: HashSet<String> = self.m.holds.iter().filter_map(|h| h.reauthorizes.clone()).collect();
        // An active booking may have moved to its re-authorization.
        for b in 0..self.m.bookings.len() {
            let bk = self.m.bookings[b].clone();
            let v = bookings.get(&(bk.prop, bk.id.clone())).ok_or_else(|| format!("booking {} is gone", bk.id))?;
            let server_hold = v["hold_id"].as_str().map(str::to_string);
            let model_hold = bk.hold.map(|h| self.m.holds[h].id.clone());
            let Some(new) = server_hold.as_deref().and_then(|s| self.m.hold_index(s)) else { continue };
            if server_hold == model_hold || self.m.holds[new].reauthorizes.is_none() {
                continue;
            }
            // The new hold must descend from the old one.
            let mut cur = Some(new);
            let mut ok = false;
            while let Some(c) = cur {
                if Some(&self.m.holds[c].id) == model_hold.as_ref() {
                    ok = true;
                    break;
                }
                cur = self.m.holds[c].reauthorizes.as_deref().and_then(|o| self.m.hold_index(o));
            }
            if !ok || bk.status != Bs::Active {
                return Err(format!(
                    "after a {secs} s tick, booking {} ({}) moved from {model_hold:?} to {server_hold:?}, not a re-authorization",
                    bk.id,
                    bk.status.name()
                ));
            }
            self.m.bookings[b].hold = Some(new);
        }
        // Holds: only authorized ones change, and only for those reasons.
        for i in 0..self.m.holds.len() {
            let h = self.m.holds[i].clone();
            let v = views.get(&h.id).ok_or_else(|| format!("hold {} is gone", h.id))?;
            let status = Hs::parse(v["status"].as_str().unwrap_or("")).ok_or_else(|| format!("hold {}: {v}", h.id))?;
            if status == h.status {
                if h.status == Hs::Authorized {
                    self.m.holds[i].capture_before = millis(&v["capture_before"]);
                }
                continue;
            }
            let what = format!("after a {secs} s tick, hold {} ({})", h.id, h.status.name());
            let lapsed = h.capture_before.is_some_and(|cb| cb <= now);
            let window_closed = h.booking.is_some_and(|b| {
                let bk = &self.m.bookings[b];
                bk.status == Bs::CheckedOut && bk.claim_until.is_some_and(|t| t <= now) && bk.hold == Some(i)
            });
            let allowed = h.status == Hs::Authorized
                && match status {
                    Hs::Expired => lapsed,
                    Hs::Canceled => replaced.contains(&h.id) || window_closed,
                    _ => false,
                };
            if !allowed {
                return Err(format!(
                    "{what}: became {} (lapsed {lapsed}, re-authorized {}, claim window closed {window_closed})",
                    status.name(),
                    replaced.contains(&h.id)
                ));
            }
            let released = field(v, "amount_released");
            same(&what, "amount_released", released, h.amount)?;
            self.count(&format!("tick: hold {}", status.name()));
            self.m.holds[i].released = released;
            self.m.set_status(i, status);
        }
        // Bookings: the model has followed their holds; a checked-out one
        // whose claim window closed is settled whatever became of its hold.
        for b in 0..self.m.bookings.len() {
            let bk = &self.m.bookings[b];
            let v = &bookings[&(bk.prop, bk.id.clone())];
            if bk.status == Bs::CheckedOut && bk.claim_until.is_some_and(|t| t <= now) {
                if v["status"] != "settled" {
                    return Err(format!(
                        "after a {secs} s tick, booking {}: claim window closed but the booking is {}",
                        bk.id, v["status"]
                    ));
                }
                self.m.bookings[b].status = Bs::Settled;
                self.count("tick: claim window closed");
            }
        }
        Ok(())
    }
}
