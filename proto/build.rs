//! Generates the hygie.v1 types and gRPC stubs with a pure-Rust protobuf compiler (protox), so a
//! fresh machine needs no `protoc` and the build never downloads anything.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["hygie/v1/observation.proto", "hygie/v1/inventory.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["."])?;
    tonic_prost_build::configure()
        // Every message from a peer is checked against the contract's limits before prost
        // decodes it (src/wire.rs).
        .codec_path("crate::codec::CheckedCodec")
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
