//! The document checked against itself and against the domain.

use super::*;

#[test]
fn every_referenced_schema_is_defined() {
    let json = document().to_json().unwrap();
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for r in json.match_indices("#/components/schemas/") {
        let name: String = json[r.0 + r.1.len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        assert!(schemas.contains_key(&name), "{name} is referenced but not defined");
    }
    assert!(doc["paths"]["/api/holds/{id}/capture"]["post"]["responses"]["409"].is_object());
}

/// The documented enums are exactly the values the service produces.
#[test]
fn the_enums_in_the_document_are_the_domains_own_values() {
    use chittycharge_domain::booking::BookingStatus;
    use chittycharge_domain::{GuestTier, HoldStatus};
    let doc: serde_json::Value = serde_json::from_str(&document().to_json().unwrap()).unwrap();
    let values = |name: &str| -> Vec<String> {
        let list = doc["components"]["schemas"][name]["enum"].as_array().unwrap_or_else(|| panic!("{name}"));
        list.iter().map(|v| v.as_str().unwrap().to_string()).collect()
    };
    let holds: Vec<String> = HoldStatus::ALL.iter().map(|s| s.as_str().to_string()).collect();
    assert_eq!(values("HoldStatusName"), holds);
    let tiers: Vec<String> = GuestTier::ALL.iter().map(|t| t.as_str().to_string()).collect();
    assert_eq!(values("TierName"), tiers);
    let bookings: Vec<String> = BookingStatus::ALL.iter().map(|b| b.as_str().to_string()).collect();
    assert_eq!(values("BookingStatusName"), bookings);
    let ops: Vec<String> = [
        chittycharge_store::OpStatus::Pending,
        chittycharge_store::OpStatus::Succeeded,
        chittycharge_store::OpStatus::Failed,
        chittycharge_store::OpStatus::Unknown,
    ]
    .iter()
    .map(|o| o.as_str().to_string())
    .collect();
    assert_eq!(values("OperationStatusName"), ops);
    let hold = &doc["components"]["schemas"]["HoldView"]["properties"];
    assert_eq!(hold["status"]["$ref"], "#/components/schemas/HoldStatusName", "{hold}");
    assert_eq!(hold["created_at"]["format"], "date-time", "{hold}");
    let limit = &doc["paths"]["/api/holds"]["get"]["parameters"];
    let limit = limit.as_array().unwrap().iter().find(|p| p["name"] == "limit").unwrap();
    // A whole number up to 200, or empty (the default, as a form left blank).
    let (number, empty) = (&limit["schema"]["oneOf"][0], &limit["schema"]["oneOf"][1]);
    assert_eq!((number["type"].as_str(), number["maximum"].as_i64()), (Some("integer"), Some(200)), "{limit}");
    assert_eq!((empty["type"].as_str(), empty["maxLength"].as_i64()), (Some("string"), Some(0)), "{limit}");
    let metrics = &doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"];
    assert!(metrics["text/plain"].is_object(), "{metrics}");
    let limited = &doc["paths"]["/api/holds"]["get"]["responses"]["429"]["headers"];
    assert!(limited["Retry-After"].is_object(), "{limited}");
}
