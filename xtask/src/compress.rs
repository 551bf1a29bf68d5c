//! Build-time compression of the browser app: every text or WASM file in `target/dist` gets a
//! gzip twin (`<file>.gz`, Zopfli: the smallest gzip there is, still plain gzip to any browser)
//! and a Brotli twin (`<file>.br`). The server sends whichever the browser accepts (tower-http's
//! `ServeDir::precompressed_*`), so nothing is compressed per request and the sizes printed here
//! are the bytes a browser downloads.

use anyhow::Context;
use std::io::Write;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

/// The kinds of file worth compressing (images and fonts are compressed already).
const COMPRESSIBLE: [&str; 6] = ["wasm", "js", "css", "html", "svg", "json"];

/// Zopfli's iterations per block. Its default is 15; on the trader's bundle 5 gives a file 0.02%
/// larger in a third of the time (and 1 only 0.2% larger).
const ZOPFLI_ITERATIONS: u64 = 5;

/// Brotli's best quality and its largest standard window (4 MiB).
const BROTLI_QUALITY: u32 = 11;
const BROTLI_WINDOW: u32 = 22;

/// Writes `<file>.gz` and `<file>.br` next to every compressible file under `dir`, both cores
/// at once.
pub fn precompress(dir: &Path) -> anyhow::Result<()> {
    let mut files = Vec::new();
    collect(dir, &mut files)?;
    // Largest first, so the two WASM modules do not end up on the same thread.
    files.sort_by_key(|path| std::cmp::Reverse(std::fs::metadata(path).map_or(0, |m| m.len())));
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(path) = files.get(index) else {
                            return Ok(());
                        };
                        compress_file(path)?;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|worker| worker.join().expect("a compression thread panicked"))
    })
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path
            .extension()
            .and_then(|ext| ext.to_str())
            .is_some_and(|ext| COMPRESSIBLE.contains(&ext))
        {
            out.push(path);
        }
    }
    Ok(())
}

fn compress_file(path: &Path) -> anyhow::Result<()> {
    let data = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    write(&twin(path, "gz"), &gzip(&data)?)?;
    write(&twin(path, "br"), &brotli(&data)?)?;
    Ok(())
}

/// `dir/app.wasm` -> `dir/app.wasm.gz`.
pub fn twin(path: &Path, extension: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// `data` as a gzip member, compressed by Zopfli.
pub fn gzip(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let options = zopfli::Options {
        iteration_count: NonZeroU64::new(ZOPFLI_ITERATIONS).expect("non-zero"),
        ..zopfli::Options::default()
    };
    let mut out = Vec::with_capacity(data.len() / 3);
    zopfli::compress(options, zopfli::Format::Gzip, data, &mut out).context("zopfli")?;
    Ok(out)
}

/// `data` as a Brotli stream.
pub fn brotli(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 4);
    {
        let mut writer =
            ::brotli::CompressorWriter::new(&mut out, 64 * 1024, BROTLI_QUALITY, BROTLI_WINDOW);
        writer.write_all(data).context("brotli")?;
        writer.flush().context("brotli")?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn both_twins_decompress_to_the_original() {
        let data: Vec<u8> = (0..5_000u32)
            .flat_map(|i| format!("line {i} of a bundle\n").into_bytes())
            .collect();
        let gz = gzip(&data).expect("gzip");
        assert!(gz.len() < data.len() / 5, "{} of {}", gz.len(), data.len());
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_end(&mut back)
            .expect("a standard gzip stream");
        assert_eq!(back, data);

        let br = brotli(&data).expect("brotli");
        let mut back = Vec::new();
        ::brotli::Decompressor::new(br.as_slice(), 4096)
            .read_to_end(&mut back)
            .expect("a standard brotli stream");
        assert_eq!(back, data);
    }

    #[test]
    fn only_text_and_wasm_get_twins_and_an_empty_file_works() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pkg = dir.path().join("pkg");
        std::fs::create_dir_all(&pkg).expect("pkg");
        std::fs::write(pkg.join("app_bg.wasm"), b"\0asm\x01\0\0\0").expect("wasm");
        std::fs::write(dir.path().join("index.html"), b"").expect("html");
        std::fs::write(dir.path().join("logo.png"), b"\x89PNG").expect("png");
        precompress(dir.path()).expect("precompress");
        for file in ["pkg/app_bg.wasm", "index.html"] {
            for ext in ["gz", "br"] {
                assert!(twin(&dir.path().join(file), ext).is_file(), "{file}.{ext}");
            }
        }
        assert!(!dir.path().join("logo.png.gz").exists());
    }
}
