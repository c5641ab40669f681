//! The gRPC codec of `hygie.v1`: prost, behind the wire check of [`crate::wire`].
//!
//! Generated clients and servers use it in place of `tonic_prost::ProstCodec` (see build.rs), so
//! no message from a peer reaches prost before its counts and sizes are checked. A refused batch
//! ends the stream with `invalid_argument` naming its sequence in [`REJECTED_SEQUENCE_METADATA`],
//! exactly as a batch refused after decoding does, so the agent sets that one batch aside.

use std::marker::PhantomData;

use prost::Message;
use prost::bytes::Buf;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::MetadataValue;

use crate::wire::{self, Shape, WireRefusal};
use crate::{REJECTED_SEQUENCE_METADATA, pb};

/// A message type whose encoding is checked before it is decoded.
pub trait WireChecked: Message + Default {
    /// Checks the encoded message against the contract's limits.
    fn check_wire(bytes: &[u8]) -> Result<Shape, WireRefusal>;
}

impl WireChecked for pb::AgentMessage {
    fn check_wire(bytes: &[u8]) -> Result<Shape, WireRefusal> {
        wire::check_agent_message(bytes)
    }
}

impl WireChecked for pb::CollectorMessage {
    fn check_wire(bytes: &[u8]) -> Result<Shape, WireRefusal> {
        wire::check_collector_message(bytes)
    }
}

/// The codec: prost encoding; checked prost decoding.
#[derive(Debug)]
pub struct CheckedCodec<T, U>(PhantomData<fn(T) -> U>);

impl<T, U> Default for CheckedCodec<T, U> {
    fn default() -> Self {
        CheckedCodec(PhantomData)
    }
}

impl<T, U> Codec for CheckedCodec<T, U>
where
    T: Message + Send + 'static,
    U: WireChecked + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = CheckedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        CheckedDecoder(PhantomData)
    }
}

/// Encodes with prost.
#[derive(Debug)]
pub struct ProstEncoder<T>(PhantomData<fn(T)>);

impl<T: Message> Encoder for ProstEncoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: T, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        // EncodeBuf grows as needed: encoding cannot run out of room.
        item.encode(buf)
            .map_err(|error| Status::internal(format!("cannot encode: {error}")))
    }
}

/// Checks, then decodes with prost.
#[derive(Debug)]
pub struct CheckedDecoder<U>(PhantomData<fn() -> U>);

impl<U: WireChecked> Decoder for CheckedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        // Taking the bytes out of the decode buffer splits it; nothing is copied.
        let bytes = buf.copy_to_bytes(buf.remaining());
        U::check_wire(&bytes).map_err(refusal_status)?;
        U::decode(bytes)
            .map(Some)
            .map_err(|error| Status::invalid_argument(format!("undecodable message: {error}")))
    }
}

fn refusal_status(refusal: WireRefusal) -> Status {
    match refusal.sequence {
        Some(sequence) => {
            let mut status = Status::invalid_argument(format!(
                "batch {sequence} refused: {}",
                refusal.error.to_string().trim_start_matches("batch.")
            ));
            status
                .metadata_mut()
                .insert(REJECTED_SEQUENCE_METADATA, MetadataValue::from(sequence));
            status
        }
        None => Status::invalid_argument(format!("message refused: {}", refusal.error)),
    }
}
