//! Throughput of batch grouping on synthetic cases drawn from a table set's own code lists.
//!
//! `make bench` imports `chs-drg-1.1` and points `DRGSIM_BENCH_TABLES` at it; without it the
//! built-in teaching set is used. One thread and all threads are compared in the same run.

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use drgsim_core::{batch, builtin, tables, Grouper};
use std::sync::Arc;

fn cases(g: &Grouper, n: usize) -> RecordBatch {
    let mut dx_codes: Vec<String> = Vec::new();
    let mut px_codes: Vec<String> = Vec::new();
    for l in &g.lists {
        let t = if l.is_dx { &g.dx } else { &g.px };
        let v = if l.is_dx {
            &mut dx_codes
        } else {
            &mut px_codes
        };
        v.extend(
            l.bits
                .iter()
                .map(|i| t.name(i).trim_end_matches('*').to_string()),
        );
    }
    let mut seed = 0x2545F4914F6CDD1Du64;
    let mut next = move |m: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % m as u64) as usize
    };
    let (mut dx, mut px, mut sex, mut age) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let k = 1 + next(5);
        dx.push(
            (0..k)
                .map(|_| dx_codes[next(dx_codes.len())].as_str())
                .collect::<Vec<_>>()
                .join("|"),
        );
        let k = next(3);
        px.push(
            (0..k)
                .map(|_| px_codes[next(px_codes.len())].as_str())
                .collect::<Vec<_>>()
                .join("|"),
        );
        sex.push(1.0 + next(2) as f64);
        age.push(next(90) as f64);
    }
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("sex", Arc::new(Float64Array::from(sex))),
        ("age", Arc::new(Float64Array::from(age))),
        ("dx", Arc::new(StringArray::from(dx))),
        ("px", Arc::new(StringArray::from(px))),
    ];
    RecordBatch::try_from_iter(cols).expect("batch")
}

fn bench(c: &mut Criterion) {
    let g = match std::env::var_os("DRGSIM_BENCH_TABLES") {
        Some(dir) => drgsim_core::load_dir(std::path::Path::new(&dir)).expect("bench tables load"),
        None => {
            tables::compile(&builtin::files("teaching").expect("teaching set")).expect("compiles")
        }
    };
    eprintln!("table set: {} ({} ADRG)", g.meta.name, g.adrgs.len());
    let n = 200_000;
    let b = cases(&g, n);
    let mut group = c.benchmark_group("group_batch");
    group.throughput(Throughput::Elements(n as u64));
    group.sample_size(10);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    group.bench_function("1 thread", |bench| {
        bench.iter(|| one.install(|| batch::group_batch(&g, &b, false).expect("groups")))
    });
    group.bench_function("all threads", |bench| {
        bench.iter(|| batch::group_batch(&g, &b, false).expect("groups"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
