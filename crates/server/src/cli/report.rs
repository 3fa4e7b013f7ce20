//! `chittycharge report`: a period's report from the HTTP API, streamed to
//! stdout as it arrives (a year of holds never sits in memory here).

use std::io::Write as _;

use clap::ValueEnum;

use crate::cli_client::Remote;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ReportKind {
    /// One row per hold with totals per property and currency.
    Holds,
    /// One row per damage-claim line with totals.
    Claims,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ReportFormat {
    /// Major units, for a spreadsheet.
    Csv,
    /// Integer minor units, for a program.
    Json,
}

pub(crate) struct ReportArgs {
    pub kind: ReportKind,
    pub from: String,
    pub to: String,
    pub property: Option<String>,
    pub format: ReportFormat,
}

pub(crate) async fn report(remote: &Remote, a: ReportArgs) -> anyhow::Result<()> {
    let token = remote.token.clone().ok_or_else(|| anyhow::anyhow!("--token or CHITTYCHARGE_TOKEN is required"))?;
    let kind = match a.kind {
        ReportKind::Holds => "holds",
        ReportKind::Claims => "claims",
    };
    let format = if remote.json { ReportFormat::Json } else { a.format };
    let format = match format {
        ReportFormat::Csv => "csv",
        ReportFormat::Json => "json",
    };
    let mut url = url::Url::parse(&format!("{}/api/reports/{kind}", remote.url.trim_end_matches('/')))?;
    url.query_pairs_mut().append_pair("from", &a.from).append_pair("to", &a.to).append_pair("format", format);
    if let Some(p) = &a.property {
        url.query_pairs_mut().append_pair("property_id", p);
    }
    let mut resp = reqwest::Client::new().get(url).header("ChittyID-Token", token).send().await?;
    if !resp.status().is_success() {
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let message = body["error"].as_str().unwrap_or("request failed");
        anyhow::bail!("HTTP {}: {message}", status.as_u16());
    }
    let mut out = std::io::stdout().lock();
    while let Some(chunk) = resp.chunk().await? {
        out.write_all(&chunk)?;
    }
    out.flush()?;
    Ok(())
}
