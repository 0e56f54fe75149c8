//! The workloads that drive the running server over HTTPS. Every loop is bounded in count and
//! in time; every request goes to 127.0.0.1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::{Method, StatusCode};

use crate::client::{json_of, Api, Body};
use crate::report::{Report, Target};
use crate::server::Server;
use crate::stats::{mb_per_s, summarise};

pub const MIB: u64 = 1024 * 1024;
pub const GIB: u64 = 1024 * MIB;
/// The most a single large upload may raise the server's peak memory to, by any way in.
pub const UPLOAD_RSS_CEILING_MIB: f64 = 64.0;

/// Who talks to whom: a school sends on `general` to the SMST team, which downloads.
pub struct Keys {
    pub school: String,
    pub team: String,
}

const TO_TEAM: [(&str, &str); 2] = [("channel", "general"), ("to", "smst")];

fn query(filename: &str) -> Vec<(&str, &str)> {
    let mut q = TO_TEAM.to_vec();
    q.push(("filename", filename));
    q
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

/// Resets the server's peak-memory mark, or says in the report that it could not.
pub fn reset_peak(server: &Server, report: &mut Report, phase: &str) {
    if !server.reset_peak() {
        report.note(format!(
            "{phase}: could not reset VmHWM (writing /proc/PID/clear_refs needs root); the peak includes earlier phases"
        ));
    }
}

/// One large upload, then (optionally) its download, each with the server's peak memory.
pub async fn large(
    api: &Api,
    server: &Server,
    keys: &Keys,
    size: u64,
    download: bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    let label = format!("{} GiB", size / GIB);
    let body = Body::new(size, Body::random_block());
    // Hashed before the clock starts, so the client's own hashing does not slow the upload.
    let expected = download.then(|| body.sha256_hex());
    reset_peak(server, report, "large upload");
    let (_, rss_before) = server.memory()?;
    let start = Instant::now();
    let created = api.upload(&keys.school, &query(&format!("large-{}gib.bin", size / GIB)), body).await?;
    let up = start.elapsed();
    let (hwm_up, _) = server.memory()?;
    ensure!(created["size"].as_u64() == Some(size), "the server stored {} bytes, not {size}", created["size"]);
    if let Some(expected) = &expected {
        ensure!(created["sha256"].as_str() == Some(expected), "the server's SHA-256 differs from what was sent");
    }
    let seal = report.value_of("ceiling", "seal (SHA-256 + ChaCha20-Poly1305, 1 core)");
    report.add("large", &format!("upload {label}"), mb_per_s(size, up), "MB/s").vs("seal", seal).ratio_target(0.5);
    report
        .add("large", &format!("server peak RSS, upload {label}"), mib(hwm_up), "MiB")
        .target(Target::Below(UPLOAD_RSS_CEILING_MIB));
    let tls = report.value_of("ceiling", "TLS loopback sink, 1 stream").unwrap_or(f64::NAN);
    report.note(format!(
        "upload {label}: {:.0}% of the TLS sink ceiling; server RSS {:.1} MiB before, VmHWM reset just before",
        mb_per_s(size, up) / tls * 100.0,
        mib(rss_before)
    ));
    if !download {
        return Ok(());
    }
    let id = created["id"].as_str().context("no id in the upload's answer")?.to_owned();
    reset_peak(server, report, "large download");
    let start = Instant::now();
    let (n, sha) = api.download(&keys.team, &id).await?;
    let down = start.elapsed();
    let (hwm_down, _) = server.memory()?;
    ensure!(n == size, "downloaded {n} bytes of {size}");
    ensure!(Some(&sha) == expected.as_ref(), "the downloaded file's SHA-256 differs from what was uploaded");
    let open = report.value_of("ceiling", "open (ChaCha20-Poly1305, 1 core)");
    report
        .add("large", &format!("download {label} (SHA-256 checked)"), mb_per_s(size, down), "MB/s")
        .vs("open", open)
        .ratio_target(0.5);
    report
        .add("large", &format!("server peak RSS, download {label}"), mib(hwm_down), "MiB")
        .target(Target::Below(64.0));
    Ok(())
}

/// `count` uploads of `size` bytes from `concurrency` workers on kept-alive connections.
pub async fn small(
    api: &Api,
    keys: &Keys,
    count: usize,
    size: u64,
    concurrency: usize,
    limit: Duration,
    report: &mut Report,
) -> anyhow::Result<()> {
    let block = Body::random_block();
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + limit;
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (api, key, block, next) = (api.clone(), keys.school.clone(), block.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let name = format!("small-{concurrency}-{i}.bin");
                let t = Instant::now();
                api.upload(&key, &query(&name), Body::new(size, block.clone())).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.context("an upload worker panicked")??);
    }
    let wall = start.elapsed();
    if latencies.len() < count {
        report.note(format!(
            "small files at concurrency {concurrency}: stopped at the {limit:?} limit after {} of {count}",
            latencies.len()
        ));
    }
    let l = summarise(&latencies);
    let w = format!("small c={concurrency}");
    let rate = latencies.len() as f64 / wall.as_secs_f64();
    let gate = concurrency == 16;
    let files = report.value_of("ceiling", crate::OBJECT_CEILING);
    let row = report.add(&w, &format!("{} x {} KiB uploads", l.count, size / 1024), rate, "uploads/s");
    row.vs("16 files", files);
    if gate {
        row.target(Target::AtLeast(1000.0));
    }
    report.add(&w, "p50 latency", l.p50_ms, "ms");
    let row = report.add(&w, "p99 latency", l.p99_ms, "ms");
    if gate {
        row.target(Target::Below(50.0));
    }
    report.add(&w, "max latency", l.max_ms, "ms");
    Ok(())
}

/// `n` concurrent uploads of `size` bytes: the server's peak memory, whole and per upload.
pub async fn concurrent_memory(
    api: &Api,
    server: &Server,
    keys: &Keys,
    n: usize,
    size: u64,
    report: &mut Report,
) -> anyhow::Result<()> {
    let block = Body::random_block();
    reset_peak(server, report, "concurrent uploads");
    let (_, rss_before) = server.memory()?;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let (api, key, block) = (api.clone(), keys.school.clone(), block.clone());
        tasks.push(tokio::spawn(async move {
            let created = api.upload(&key, &query(&format!("concurrent-{i}.bin")), Body::new(size, block)).await?;
            ensure!(created["size"].as_u64() == Some(size), "a concurrent upload was stored short");
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await.context("an upload task panicked")??;
    }
    let wall = start.elapsed();
    let (hwm, _) = server.memory()?;
    let w = format!("{n} x {} MiB", size / MIB);
    report.add(&w, "server peak RSS", mib(hwm), "MiB").target(Target::Below(256.0));
    report.add(&w, "peak RSS above idle, per upload", mib(hwm.saturating_sub(rss_before)) / n as f64, "MiB");
    let seal = report.value_of("ceiling", "seal (SHA-256 + ChaCha20-Poly1305, 1 core)");
    report.add(&w, "aggregate upload", mb_per_s(size * n as u64, wall), "MB/s").vs("seal", seal);
    Ok(())
}

/// A zip of `schools` checking files, one per school, routed by the DfE number in each name.
pub async fn batch(api: &Api, team_key: &str, schools: u32, report: &mut Report) -> anyhow::Result<()> {
    let zip = checking_zip(schools)?;
    let start = Instant::now();
    let resp = api
        .request(Method::POST, team_key, "/api/v1/batches")
        .query(&[("channel", "checking-files")])
        .header(reqwest::header::CONTENT_TYPE, "application/zip")
        .body(zip)
        .send()
        .await
        .context("batch request failed")?;
    let answer = json_of(resp, StatusCode::OK).await?;
    let secs = start.elapsed().as_secs_f64();
    let delivered = answer["delivered"].as_u64().unwrap_or(0);
    if delivered != u64::from(schools) {
        bail!(
            "the batch delivered {delivered} of {schools} files (quarantined {}, refused {})",
            answer["quarantined"],
            answer["refused"]
        );
    }
    let w = format!("batch {schools} files");
    report.add(&w, "zip routed end to end", secs, "s");
    report.add(&w, "files routed", delivered as f64 / secs, "files/s");
    Ok(())
}

/// GIAS establishment numbers of the schools the batch goes to (see `gias_rows`).
pub fn school_number(i: u32) -> u32 {
    5000 + i
}

fn checking_zip(schools: u32) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    use zip::write::SimpleFileOptions;
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for i in 0..schools {
        let dfe = format!("825{}", school_number(i));
        out.start_file(format!("{dfe}_KS2_checking.pdf"), options)?;
        // A small PDF-looking file: the channel checks the first bytes against the extension.
        out.write_all(format!("%PDF-1.4\nKS2 checking data for {dfe}\n%%EOF\n").as_bytes())?;
    }
    Ok(out.finish()?.into_inner())
}

/// GIAS CSV rows (the export's header plus one open primary school per row) for the batch.
pub fn gias_csv(schools: u32) -> String {
    let mut csv = String::from(
        "URN,LA (code),LA (name),EstablishmentNumber,EstablishmentName,TypeOfEstablishment (code),\
         TypeOfEstablishment (name),EstablishmentTypeGroup (code),EstablishmentTypeGroup (name),\
         EstablishmentStatus (code),EstablishmentStatus (name),ReasonEstablishmentOpened (code),\
         ReasonEstablishmentOpened (name),OpenDate,ReasonEstablishmentClosed (code),\
         ReasonEstablishmentClosed (name),CloseDate,PhaseOfEducation (code),PhaseOfEducation (name),\
         StatutoryLowAge,StatutoryHighAge,Gender (name),ReligiousCharacter (name),Street,Town,Postcode\r\n",
    );
    // The two schools that upload and list come from the register too, as every school does.
    let numbers = [2001, 2002].into_iter().chain((0..schools).map(school_number));
    for (i, est) in numbers.enumerate() {
        csv.push_str(&format!(
            "{urn},825,Buckinghamshire,{est},Bench School {i},1,Community school,4,Local authority maintained schools,\
             1,Open,,Not applicable,,,Not applicable,,2,Primary,4,11,Mixed,Does not apply,1 High Street,Ashbury,ZZ99 3ZZ\r\n",
            urn = 700_000 + i,
        ));
    }
    csv
}

/// Listing one inbox of many transfers: the first page again and again, every page in turn
/// following the cursors, then one page deep in the list again and again.
pub async fn listing(api: &Api, who: &str, key: &str, repeats: usize, report: &mut Report) -> anyhow::Result<()> {
    const PAGE: &str = "50";
    const MAX_PAGES: usize = 5000;
    let page = |cursor: Option<String>| {
        let mut q = vec![("limit", PAGE.to_owned())];
        if let Some(c) = cursor {
            q.push(("cursor", c));
        }
        let req = api.request(Method::GET, key, "/api/v1/transfers").query(&q);
        async move {
            let t = Instant::now();
            let v = json_of(req.send().await.context("listing request failed")?, StatusCode::OK).await?;
            let n = v["items"].as_array().map_or(0, Vec::len);
            anyhow::Ok((t.elapsed(), n, v["next_cursor"].as_str().map(str::to_owned)))
        }
    };
    let mut first = Vec::new();
    for _ in 0..repeats {
        first.push(page(None).await?.0);
    }
    let mut walk = Vec::new();
    let mut cursor = None;
    let mut rows = 0usize;
    let mut deep_cursor = None;
    let deadline = Instant::now() + Duration::from_secs(180);
    while walk.len() < MAX_PAGES && Instant::now() < deadline {
        let (t, n, next) = page(cursor.clone()).await?;
        walk.push(t);
        rows += n;
        // The deepest page that is still full is the one re-read below.
        if n == 50 {
            deep_cursor = cursor.clone();
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let deep_cursor = deep_cursor.context("the inbox had no full page")?;
    let depth = decode_depth(&deep_cursor);
    let mut deep = Vec::new();
    for _ in 0..repeats {
        deep.push(page(Some(deep_cursor.clone())).await?.0);
    }
    let (f, wk, d) = (summarise(&first), summarise(&walk), summarise(&deep));
    let w = format!("list {who}");
    report.note(format!(
        "list {who}: walked {} pages ({rows} transfers); the deep page starts below cursor {depth}",
        walk.len()
    ));
    report.add(&w, "first page p50", f.p50_ms, "ms");
    report.add(&w, "first page p99", f.p99_ms, "ms").target(Target::Below(10.0));
    report.add(&w, "deep page p50", d.p50_ms, "ms");
    report.add(&w, "deep page p99", d.p99_ms, "ms").target(Target::Below(10.0));
    report.add(&w, &format!("every page p99 ({} pages)", wk.count), wk.p99_ms, "ms").target(Target::Below(10.0));
    report.add(&w, "every page max", wk.max_ms, "ms");
    Ok(())
}

/// The position a cursor stands for, for the notes (the server's cursors are `v1:<seq>`).
fn decode_depth(cursor: &str) -> String {
    URL_SAFE_NO_PAD.decode(cursor).ok().and_then(|b| String::from_utf8(b).ok()).unwrap_or_else(|| cursor.to_owned())
}
