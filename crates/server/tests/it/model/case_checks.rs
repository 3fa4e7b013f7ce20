//! The invariants checked after every step.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::model::case::{field, same, Case, Res};
use crate::model::reference::{millis, Hs};

impl Case {
    pub(crate) async fn list_holds(&self) -> Res<BTreeMap<String, Value>> {
        let mut out = BTreeMap::new();
        for p in &self.props {
            let v = self.w.get(&format!("/api/holds?limit=200&property_id={p}")).await?;
            if !v["next_cursor"].is_null() {
                return Err(format!("more than 200 holds at {p}"));
            }
            for h in v["holds"].as_array().ok_or_else(|| format!("list: {v}"))? {
                out.insert(h["id"].as_str().unwrap_or("").to_string(), h.clone());
            }
        }
        Ok(out)
    }

    pub(crate) async fn list_bookings(&self) -> Res<BTreeMap<(usize, String), Value>> {
        let mut out = BTreeMap::new();
        for (i, p) in self.props.iter().enumerate() {
            let v = self.w.get(&format!("/api/bookings?limit=500&property_id={p}")).await?;
            for b in v["bookings"].as_array().ok_or_else(|| format!("bookings: {v}"))? {
                out.insert((i, b["id"].as_str().unwrap_or("").to_string()), b.clone());
            }
        }
        Ok(out)
    }

    /// After every step: the store, the processor and the model agree, and
    /// the money invariants hold.
    pub(crate) async fn check(&mut self) -> Res {
        let views = self.list_holds().await?;
        let mut live: HashMap<(String, String), Vec<String>> = HashMap::new();
        for (id, v) in &views {
            let captured = field(v, "amount_captured");
            let amount = field(v, "amount");
            if captured > amount {
                return Err(format!("hold {id} captured {captured} of {amount}: {v}"));
            }
            if v["operation_pending"] == true {
                return Err(format!("hold {id} is still locked after the step: {v}"));
            }
            let Some(i) = self.m.hold_index(id) else {
                return Err(format!("hold {id} exists but no answer created it: {v}"));
            };
            let status = Hs::parse(v["status"].as_str().unwrap_or("")).ok_or_else(|| format!("hold {id}: {v}"))?;
            if let Some(t) = self.m.terminal.get(id) {
                if *t != status {
                    return Err(format!("hold {id} left the terminal state {} for {}", t.name(), status.name()));
                }
            }
            let m = &self.m.holds[i];
            let what = format!("hold {id}");
            if status != m.status {
                return Err(format!("{what} is {}, the model expects {}", status.name(), m.status.name()));
            }
            same(&what, "amount", amount, m.amount)?;
            same(&what, "amount_capturable", field(v, "amount_capturable"), m.capturable())?;
            same(&what, "amount_captured", captured, m.captured)?;
            same(&what, "amount_released", field(v, "amount_released"), m.released)?;
            if status == Hs::Authorized {
                // Not every answer carries the deadline; the list does.
                self.m.holds[i].capture_before = millis(&v["capture_before"]);
            }
            if status.terminal() {
                self.m.terminal.entry(id.clone()).or_insert(status);
            } else if v["metadata"]["reauthorizes"].is_null() {
                if let (Some(p), Some(b)) = (v["property_id"].as_str(), v["booking_id"].as_str()) {
                    live.entry((p.to_string(), b.to_string())).or_default().push(id.clone());
                }
            }
            // The processor agrees.
            let pi = self.w.get(&format!("/_sim/payment_intents/{id}")).await?;
            let sim_status = pi["status"].as_str().unwrap_or("");
            if !status.processor_agrees(sim_status) || field(&pi, "amount_received") != captured {
                return Err(format!(
                    "hold {id} is {} with {captured} captured, the processor has {sim_status} with {} received",
                    status.name(),
                    pi["amount_received"]
                ));
            }
            if status == Hs::Authorized && (field(&pi, "amount") != amount || field(&pi, "amount_capturable") != amount)
            {
                return Err(format!("hold {id} authorizes {amount}, the processor {pi}"));
            }
            if field(&pi, "captures") > 1 {
                return Err(format!("hold {id} was captured {} times by the processor", pi["captures"]));
            }
        }
        for m in &self.m.holds {
            if !views.contains_key(&m.id) {
                return Err(format!("hold {} is missing from the list", m.id));
            }
        }
        for ((p, b), ids) in &live {
            if ids.len() > 1 {
                return Err(format!("booking {b} at {p} has {} live holds: {ids:?}", ids.len()));
            }
        }
        let bookings = self.list_bookings().await?;
        for ((p, id), v) in &bookings {
            let Some(m) = self.m.bookings.iter().find(|b| b.prop == *p && b.id == *id) else {
                return Err(format!("booking {id} at {} exists but no answer created it: {v}", self.props[*p]));
            };
            let hold = m.hold.map(|h| self.m.holds[h].id.as_str());
            if v["status"] != m.status.name() || v["hold_id"].as_str() != hold {
                return Err(format!(
                    "booking {id} at {} is {} with hold {}, the model expects {} with {hold:?}",
                    self.props[*p],
                    v["status"],
                    v["hold_id"],
                    m.status.name()
                ));
            }
        }
        if bookings.len() != self.m.bookings.len() {
            return Err(format!("{} bookings listed, the model has {}", bookings.len(), self.m.bookings.len()));
        }
        Ok(())
    }
}
