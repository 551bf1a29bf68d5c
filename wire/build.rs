//! With the `protobuf` feature: compiles Spotware's .proto files (`proto/ctrader`, pinned at
//! their release 91) into a descriptor set with protox (no protoc), which
//! `wire::ctrader::protobuf` reads its messages through.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "protobuf")]
    protobuf();
}

#[cfg(feature = "protobuf")]
fn protobuf() {
    use prost::Message as _;
    let dir = std::path::Path::new("proto/ctrader");
    println!("cargo::rerun-if-changed={}", dir.display());
    let files = [
        "OpenApiCommonMessages.proto",
        "OpenApiCommonModelMessages.proto",
        "OpenApiMessages.proto",
        "OpenApiModelMessages.proto",
    ];
    let set = match protox::compile(files, [dir]) {
        Ok(set) => set,
        Err(error) => panic!("Spotware's .proto files do not compile: {error}"),
    };
    let out = std::env::var_os("OUT_DIR").map(std::path::PathBuf::from);
    let Some(out) = out else {
        panic!("cargo sets OUT_DIR for build scripts");
    };
    if let Err(error) = std::fs::write(out.join("ctrader.fds"), set.encode_to_vec()) {
        panic!("cannot write the descriptor set: {error}");
    }
}
