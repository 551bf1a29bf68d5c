//! Builds the browser bundles into `target/dist`: the frontend compiled to WASM twice (the
//! trader's pages for `index.html`, the whole app with the admin console for `admin.html`), the
//! JS glue from `wasm-bindgen` (used as a library, so its version always matches `Cargo.lock`)
//! and the stylesheets; then every file gets its gzip and Brotli twins (`compress`).
//!
//! Nothing here is downloaded or installed except the `wasm32-unknown-unknown` target through
//! rustup. `wasm-opt` is used only when the npm `binaryen` package is installed in the workspace
//! (Debian's binaryen produces bundles that crash in Chromium, so it is never looked up on PATH).

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "wasm-release";
const PACKAGE: &str = "frontend";

/// The two bundles: the trader's pages, and the admin console (every page). A trader never
/// downloads the console's code; the server answers `/admin` addresses with `admin.html`.
const VARIANTS: [Variant; 2] = [
    Variant {
        name: "frontend",
        page: "index.html",
        features: &[],
    },
    Variant {
        name: "admin",
        page: "admin.html",
        features: &["--features", "admin"],
    },
];

struct Variant {
    /// The module's name in `pkg/` (`<name>.js`, `<name>_bg.wasm`).
    name: &'static str,
    /// The page that loads it.
    page: &'static str,
    /// The frontend's cargo features for it.
    features: &'static [&'static str],
}

/// Builds the bundles and returns the `target/dist` directory the backend serves at `/`.
pub fn build(root: &Path) -> anyhow::Result<PathBuf> {
    ensure_wasm_target()?;
    let dist = root.join("target").join("dist");
    if dist.exists() {
        std::fs::remove_dir_all(&dist)
            .with_context(|| format!("cannot clear {}", dist.display()))?;
    }
    let pkg = dist.join("pkg");
    std::fs::create_dir_all(&pkg).with_context(|| format!("cannot create {}", pkg.display()))?;

    let wasm_in = target_dir(root)
        .join(TARGET)
        .join(PROFILE)
        .join(format!("{PACKAGE}.wasm"));
    for variant in &VARIANTS {
        // Each variant's build overwrites `frontend.wasm`: bind it before the next one.
        compile_frontend(root, variant.features)?;
        wasm_bindgen_cli_support::Bindgen::new()
            .input_path(&wasm_in)
            .out_name(variant.name)
            .web(true)?
            .typescript(false)
            // Function names are a third of the module; a panic message still says what failed.
            .remove_name_section(true)
            .remove_producers_section(true)
            .generate(&pkg)
            .with_context(|| format!("wasm-bindgen failed on {}", wasm_in.display()))?;
        optimise(root, &pkg.join(format!("{}_bg.wasm", variant.name)))?;
    }

    let style = root.join("style");
    if style.is_dir() {
        copy_dir(&style, &dist.join("style"))?;
    } else {
        eprintln!("bundle: no style/ directory, the page will be unstyled");
    }
    let version = content_hash(&dist)?;
    for variant in &VARIANTS {
        write_page(&dist, variant, &version)?;
    }
    crate::compress::precompress(&dist)?;
    for variant in &VARIANTS {
        let wasm_out = pkg.join(format!("{}_bg.wasm", variant.name));
        let size = |path: &Path| -> anyhow::Result<u64> {
            Ok(std::fs::metadata(path)
                .with_context(|| format!("{}", path.display()))?
                .len())
        };
        println!(
            "bundle: {} is {} bytes, {} bytes gzipped, {} bytes with brotli",
            wasm_out.display(),
            size(&wasm_out)?,
            size(&crate::compress::twin(&wasm_out, "gz"))?,
            size(&crate::compress::twin(&wasm_out, "br"))?,
        );
    }
    println!("bundle: ready in {}", dist.display());
    Ok(dist)
}

/// Adds the WASM target when rustup is in charge and lacks it. `RUSTUP_AUTO_INSTALL=0` on build
/// machines means `rust-toolchain.toml` alone does not install it.
fn ensure_wasm_target() -> anyhow::Result<()> {
    let listed = match Command::new("rustup")
        .args(["target", "list", "--installed"])
        .stderr(Stdio::inherit())
        .output()
    {
        Ok(output) if output.status.success() => output.stdout,
        // No rustup (a distribution toolchain, say): let cargo report a missing target itself.
        _ => return Ok(()),
    };
    let installed = String::from_utf8_lossy(&listed)
        .lines()
        .any(|line| line.trim() == TARGET);
    if !installed {
        println!("bundle: installing the {TARGET} target");
        run(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    Ok(())
}

fn compile_frontend(root: &Path, features: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run(Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--profile",
            PROFILE,
            "-p",
            PACKAGE,
            "--target",
            TARGET,
        ])
        .args(features))
}

fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// Shrinks the WASM with the workspace's npm `wasm-opt` when present. A failure keeps the
/// unoptimised file: a bigger bundle beats no bundle.
fn optimise(root: &Path, wasm: &Path) -> anyhow::Result<()> {
    let wasm_opt = root.join("node_modules").join(".bin").join("wasm-opt");
    if !wasm_opt.exists() {
        return Ok(());
    }
    let tmp = wasm.with_extension("opt.wasm");
    let status = Command::new(&wasm_opt)
        .arg("-Oz")
        .arg(wasm)
        .arg("-o")
        .arg(&tmp)
        .status();
    match status {
        Ok(status) if status.success() => {
            std::fs::rename(&tmp, wasm).with_context(|| format!("{}", wasm.display()))?;
        }
        other => {
            eprintln!("bundle: wasm-opt failed ({other:?}); keeping the unoptimised module");
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(())
}

/// A short hash of every file in `dir` (FNV-1a, 64 bits) for cache busting: `/pkg/*` and
/// `/style/*` keep stable names, so the page asks for `?v=<hash>` and a new build is never mixed
/// with cached files of an old one.
fn content_hash(dir: &Path) -> anyhow::Result<String> {
    fn files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                files(&path, out)?;
            } else {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut paths = Vec::new();
    files(dir, &mut paths)?;
    paths.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for path in paths {
        let bytes = std::fs::read(&path).with_context(|| format!("{}", path.display()))?;
        for byte in bytes {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    Ok(format!("{hash:016x}"))
}

/// Writes a variant's page and the boot script it loads. The script is a file of its own, not
/// inline, so the server's Content-Security-Policy can forbid inline scripts.
fn write_page(dist: &Path, variant: &Variant, version: &str) -> anyhow::Result<()> {
    let boot = format!("pkg/boot-{}.js", variant.name);
    for (name, template) in [(variant.page, INDEX_HTML), (boot.as_str(), BOOT_JS)] {
        let path = dist.join(name);
        let text = template
            .replace("{version}", version)
            .replace("{module}", variant.name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

const BOOT_JS: &str = r#"import init from "/pkg/{module}.js?v={version}";
init({ module_or_path: "/pkg/{module}_bg.wasm?v={version}" }).catch((error) => {
  console.error(error);
  const boot = document.getElementById("boot");
  if (boot) {
    boot.textContent = "Riskdeck could not start in this browser. Please reload the page.";
    boot.classList.add("boot-failed");
  }
});
"#;

const INDEX_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="color-scheme" content="light dark">
  <title>Riskdeck</title>
  <link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect x='3' y='3' width='10' height='10' rx='2' transform='rotate(45 8 8)' fill='%231d5fd1'/%3E%3C/svg%3E">
  <link rel="stylesheet" href="/style/main.css?v={version}">
  <link rel="modulepreload" href="/pkg/{module}.js?v={version}">
  <link rel="preload" href="/pkg/{module}_bg.wasm?v={version}" as="fetch" type="application/wasm" crossorigin>
</head>
<body>
  <noscript>
    <p class="noscript">Riskdeck is a live dashboard and needs JavaScript. Please enable JavaScript
    for this site and reload the page.</p>
  </noscript>
  <div id="boot" class="boot" role="status" aria-live="polite">
    <span class="spinner" aria-hidden="true"></span>
    <span>Loading Riskdeck&hellip;</span>
  </div>
  <script type="module" src="/pkg/boot-{module}.js?v={version}"></script>
</body>
</html>
"#;

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("{}", from.display()))? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}
