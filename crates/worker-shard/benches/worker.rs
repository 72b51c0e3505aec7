//! Round trips of batches through one worker thread: 100 SETs or GETs per batch, 16-byte values,
//! 100,000 distinct keys (what one IO handler pass sends a shard under `redis-benchmark -P 100`).
//!
//! Run: `cargo bench -p worker-shard --bench worker -- --warm-up-time 1 --measurement-time 3`
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use resp_codec::{Bytes, Protocol, Request};
use worker_shard::{Batch, Op, OpKind, ReplyBatch, ReplySink, ShardConfig, WorkerPool};

const KEYS: usize = 100_000;
const PER_BATCH: usize = 100;

#[derive(Debug)]
struct ChannelSink(flume::Sender<ReplyBatch>);

impl ReplySink for ChannelSink {
    fn deliver(&self, batch: ReplyBatch) {
        let _ = self.0.send(batch);
    }
}

fn batch(sink: &Arc<dyn ReplySink>, name: &'static str, keys: &[Bytes]) -> Batch {
    let value = Bytes::from_static(b"0123456789abcdef");
    let ops = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let mut args = vec![Bytes::from_static(name.as_bytes()), key.clone()];
            if name == "SET" {
                args.push(value.clone());
            }
            let kind = OpKind::Command(Request::new(args));
            Op {
                tag: i as u64,
                db: 0,
                proto: Protocol::Resp2,
                kind,
            }
        })
        .collect();
    Batch {
        reply_to: Arc::clone(sink),
        ops,
    }
}

fn worker(c: &mut Criterion) {
    let pool = WorkerPool::spawn(1, ShardConfig::default()).expect("spawn a worker");
    let (tx, rx) = flume::unbounded();
    let sink: Arc<dyn ReplySink> = Arc::new(ChannelSink(tx));
    let keys: Vec<Bytes> = (0..KEYS)
        .map(|i| Bytes::from(format!("key:{i:06}")))
        .collect();
    let handle = &pool.handles()[0];
    let mut group = c.benchmark_group("worker");
    group.throughput(Throughput::Elements(PER_BATCH as u64));
    for name in ["SET", "GET"] {
        let mut next = 0;
        group.bench_function(format!("{name} x{PER_BATCH}"), |b| {
            b.iter_batched(
                || {
                    let start = next;
                    next = (next + PER_BATCH) % KEYS;
                    batch(&sink, name, &keys[start..start + PER_BATCH])
                },
                |batch| {
                    handle.send(batch);
                    rx.recv().expect("replies")
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
    pool.shutdown();
}

criterion_group!(benches, worker);
criterion_main!(benches);
