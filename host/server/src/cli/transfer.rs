//! `prism import` and `prism export`: the copy of `transfer`, with a
//! progress line while stderr is a terminal and a summary when done.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::cli::args::{CopyArgs, ExportArgs, ImportArgs};
use crate::cli::backup::size;
use crate::cli::progress::ProgressLine;
use crate::transfer::dump::{DumpReader, DumpWriter};
use crate::transfer::endpoint::{Endpoint, RemoteOptions};
use crate::transfer::journal::Journal;
use crate::transfer::{self, CopyOptions, Destination, Progress, Selection, Source, Summary};

/// `prism import --help`, after the flags.
pub const IMPORT_HELP: &str = "\
Copies tenants, databases, collections (metadata and configuration) and
records (ids, embeddings, documents, metadata, URIs) page by page, reading
the next page while the last is written. Records are upserted: an existing
collection of the same name is added to, and a record of the same id is
replaced.

Interrupted (Ctrl-C, a network failure, a crash), it can be run again with
the same arguments: it goes on where it stopped. What it has copied is kept
in .prism-import-*.json in the current directory until it ends; --restart
ignores that.

At the end every collection's count is compared with the source's, and a
sample of records field by field; a difference is an error.

From a Chroma data directory (chroma.sqlite3): serve it with
  chroma run --path OLD --port 8001
and import from it:
  prism import --from http://localhost:8001 --path ./prism-data
Chroma's API cannot list tenants: name each with --tenant (default:
default_tenant). With auth on the source, give its credentials with
--header, e.g. --header 'X-Chroma-Token: @token.txt'.

Examples:
  prism import --from https://chroma.internal:8000 --ca-file ca.pem --path ./data
  prism import --from http://old:8000 --tenant acme --tenant default_tenant
  prism import --file ./export --to https://prism:8000 --to-header 'Authorization: Bearer @t'";

/// `prism export --help`, after the flags.
pub const EXPORT_HELP: &str = "\
OUT gets prism-export.json (the tenants, databases and collections, with
their metadata, configuration, record counts and each file's SHA-256) and
collections/NNNN-NAME.jsonl.gz, one record a line:
  {\"id\": ..., \"embedding\": [...], \"document\": ..., \"metadata\": {...}, \"uri\": ...}
Values are written as the source gave them. A collection's file is written
beside and renamed into place when whole; an interrupted export run again
with the same arguments skips the collections it finished.

Bring it back with: prism import --file OUT [--path DIR | --to URL]; every
file is checked against its SHA-256 before anything is written.";

fn selection(args: &CopyArgs) -> Selection {
    Selection {
        tenants: args.tenants.clone(),
        databases: args.databases.clone(),
        collections: args.collections.clone(),
    }
}

fn remote<'a>(
    url: &'a str,
    headers: &'a [String],
    credentials_flag: &'static str,
    args: &'a CopyArgs,
) -> RemoteOptions<'a> {
    RemoteOptions {
        url,
        headers,
        credentials_flag,
        ca_file: args.ca_file.as_deref(),
        timeout: Duration::from_secs(args.timeout_secs.max(1)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// `prism import`.
pub fn import(args: &ImportArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let (mut source, from) = match (&args.from, &args.file) {
            (Some(url), _) => (
                Source::Api(Endpoint::remote(&remote(
                    url,
                    &args.copy.headers,
                    "--header",
                    &args.copy,
                ))?),
                url.clone(),
            ),
            (None, Some(dir)) => (
                Source::Dump(DumpReader::open(dir)?),
                dir.display().to_string(),
            ),
            (None, None) => anyhow::bail!("give --from URL or --file DIR"),
        };
        let endpoint = match &args.to {
            Some(url) => {
                Endpoint::remote(&remote(url, &args.to_headers, "--to-header", &args.copy))?
            }
            None => Endpoint::local(&args.path, args.copy.encryption_key_file.as_deref())?,
        };
        let to = endpoint.shown().to_string();
        let here = std::env::current_dir().context("cannot find the current directory")?;
        let journal = Journal::open(
            &here,
            &from,
            &journal_name(&args.to, &args.path),
            args.restart,
        )?;
        if journal.resumed() {
            eprintln!(
                "resuming the import an earlier run started ({}; --restart to start over)",
                journal.path().display()
            );
        }
        let mut destination = Destination::Api(endpoint, journal);
        let summary = run(&mut source, &mut destination, &args.copy, args.sample).await?;
        transfer::done(destination);
        println!("imported {from} into {to}: {}", described(&summary));
        Ok(())
    })
}

/// The destination as the journal knows it: the same whether the path was
/// given relative or absolute.
fn journal_name(to: &Option<String>, path: &Path) -> String {
    match to {
        Some(url) => url.clone(),
        None => std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .display()
            .to_string(),
    }
}

/// `prism export`.
pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let endpoint = match (&args.from, &args.path) {
            (Some(url), _) => {
                Endpoint::remote(&remote(url, &args.copy.headers, "--header", &args.copy))?
            }
            (None, Some(dir)) => Endpoint::local(dir, args.copy.encryption_key_file.as_deref())?,
            (None, None) => anyhow::bail!("give --from URL or --path DIR"),
        };
        let from = endpoint.shown().to_string();
        let writer = DumpWriter::create(&args.out, &from)?;
        let mut destination = Destination::Dump(writer);
        let mut source = Source::Api(endpoint);
        let summary = run(&mut source, &mut destination, &args.copy, 0).await?;
        let bytes = dump_size(&args.out);
        println!(
            "exported {from} to {}: {}; {}",
            args.out.display(),
            described(&summary),
            size(bytes)
        );
        Ok(())
    })
}

/// The copy, with the progress line; `sample` records per collection
/// compared at the end.
async fn run(
    source: &mut Source,
    destination: &mut Destination,
    args: &CopyArgs,
    sample: usize,
) -> anyhow::Result<Summary> {
    let mut line = ProgressLine::new();
    let options = CopyOptions {
        batch_size: args.batch_size,
        sample,
    };
    let summary = transfer::copy(source, destination, &selection(args), options, &mut |p| {
        let whole = p.done >= p.collection.records;
        line.draw(whole, || progress_text(&p))
    })
    .await;
    line.clear();
    Ok(summary?)
}

fn progress_text(p: &Progress<'_>) -> String {
    let percent = (p.done * 100)
        .checked_div(p.collection.records)
        .unwrap_or(100)
        .min(100);
    let rate = p.written as f64 / p.elapsed.as_secs_f64().max(0.001);
    format!(
        "[{}/{}] {}  {percent:3}%  {} of {} records  {:.0} records/s",
        p.index,
        p.collections,
        p.collection.key(),
        p.done,
        p.collection.records,
        rate
    )
}

fn described(s: &Summary) -> String {
    let seconds = s.elapsed.as_secs_f64();
    let resumed = match s.resumed {
        0 => String::new(),
        n => format!(" ({n} copied by an earlier run)"),
    };
    let sampled = match s.sampled {
        0 => "counts verified".to_string(),
        n => format!("counts and {n} sampled records verified"),
    };
    format!(
        "{} tenants, {} databases, {} collections, {} records{resumed}; {} written in {seconds:.1}s ({:.0} records/s); {sampled}",
        s.tenants,
        s.databases,
        s.collections,
        s.records,
        s.written,
        s.written as f64 / seconds.max(0.001),
    )
}

fn dump_size(dir: &Path) -> u64 {
    let files = std::fs::read_dir(dir.join("collections"))
        .into_iter()
        .flatten()
        .flatten();
    files
        .filter_map(|f| f.metadata().ok())
        .map(|m| m.len())
        .sum()
}
