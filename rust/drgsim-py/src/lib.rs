//! Thin PyO3 binding of drgsim-core: converts, calls, maps errors. No grouping logic here.

use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{RecordBatch, RecordBatchIterator};
use arrow_schema::ArrowError;
use drgsim_core::{
    batch, builtin, counterfactual, dip, lint, tables, Grouper as CoreGrouper, TableError,
    TableFiles,
};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};
use std::path::PathBuf;
use std::sync::Arc;

fn exception(
    py: Python<'_>,
    class: &str,
    message: String,
    extra: Option<Bound<'_, PyAny>>,
) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let module = py.import("drgsim.exceptions")?;
        let exc = module.getattr(class)?.call1((message.clone(),))?;
        if let Some(x) = extra {
            exc.setattr("problems", x)?;
        }
        Ok(PyErr::from_value(exc))
    })();
    made.unwrap_or_else(|e| e)
}

fn table_err(py: Python<'_>, e: TableError) -> PyErr {
    let problems = match &e {
        TableError::Invalid { problems, .. } => problems
            .iter()
            .map(|p| (p.file.clone(), p.line, p.message.clone()))
            .collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    let extra = problems.into_pyobject(py).ok().map(|x| x.into_any());
    exception(py, "TableError", e.to_string(), extra)
}

/// Open the Arrow C stream an object exports (`__arrow_c_stream__`).
fn stream_reader(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<RecordBatchStreamReader> {
    let capsule = data.call_method0("__arrow_c_stream__")?;
    let capsule = capsule
        .cast::<PyCapsule>()
        .map_err(|_| PyTypeError::new_err("__arrow_c_stream__ did not return a PyCapsule"))?;
    let ptr = capsule.pointer_checked(Some(c"arrow_array_stream"))?;
    // SAFETY: the capsule holds an ArrowArrayStream (checked by name); from_raw moves it out
    // and leaves a released stream behind, which the capsule's destructor ignores.
    unsafe { RecordBatchStreamReader::from_raw(ptr.as_ptr() as *mut FFI_ArrowArrayStream) }.map_err(
        |e| {
            exception(
                py,
                "InputError",
                format!("cannot read the Arrow stream: {e}"),
                None,
            )
        },
    )
}

/// A thread pool of `threads` workers, made once per size and kept (a fresh pool per call
/// would start cold threads every time).
fn pool(threads: Option<usize>) -> PyResult<Option<Arc<rayon::ThreadPool>>> {
    static POOLS: std::sync::Mutex<Vec<(usize, Arc<rayon::ThreadPool>)>> =
        std::sync::Mutex::new(Vec::new());
    let Some(n) = threads.map(|n| n.max(1)) else {
        return Ok(None);
    };
    let mut pools = POOLS
        .lock()
        .map_err(|_| PyTypeError::new_err("thread pool registry poisoned"))?;
    if let Some((_, p)) = pools.iter().find(|(k, _)| *k == n) {
        return Ok(Some(p.clone()));
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|e| PyTypeError::new_err(format!("cannot start {n} threads: {e}")))?,
    );
    pools.push((n, p.clone()));
    Ok(Some(p))
}

/// Read every batch of an Arrow stream, apply `f` to each without the GIL (on a pool of
/// `threads` when given), and export the results as a stream.
fn map_stream<F>(
    py: Python<'_>,
    data: &Bound<'_, PyAny>,
    threads: Option<usize>,
    schema: arrow_schema::SchemaRef,
    f: F,
) -> PyResult<ArrowStream>
where
    F: Fn(&RecordBatch) -> Result<Vec<RecordBatch>, String> + Send + Sync,
{
    let reader = stream_reader(py, data)?;
    let pool = pool(threads)?;
    let out: Result<Vec<RecordBatch>, String> = py.detach(move || {
        let run = || {
            let mut out = Vec::new();
            for b in reader {
                let b = b.map_err(|e| format!("cannot read the Arrow stream: {e}"))?;
                out.extend(f(&b)?);
            }
            Ok(out)
        };
        match &pool {
            Some(p) => p.install(run),
            None => run(),
        }
    });
    let out = out.map_err(|m| exception(py, "InputError", m, None))?;
    Ok(ArrowStream {
        batches: std::sync::Mutex::new(Some(out)),
        schema,
    })
}

/// A compiled DIP catalogue.
#[pyclass(module = "drgsim._core", frozen)]
struct DipCatalogue {
    inner: Arc<dip::Catalogue>,
}

#[pymethods]
impl DipCatalogue {
    /// Compile catalogue rows (an Arrow stream with group_id, kind, dx_key, procedures,
    /// treatment, score).
    #[new]
    #[pyo3(signature = (groups, dx_length=5, count_diagnostic=false))]
    fn new(
        py: Python<'_>,
        groups: &Bound<'_, PyAny>,
        dx_length: usize,
        count_diagnostic: bool,
    ) -> PyResult<DipCatalogue> {
        let batches = stream_reader(py, groups)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                exception(
                    py,
                    "InputError",
                    format!("cannot read the catalogue: {e}"),
                    None,
                )
            })?;
        let c = py.detach(|| dip::Catalogue::from_batches(&batches, dx_length, count_diagnostic));
        c.map(|c| DipCatalogue { inner: Arc::new(c) })
            .map_err(|m| exception(py, "InputError", m, None))
    }

    /// Number of groups.
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Match cases (an Arrow stream with `dx`, `px`); one result row per case, in order.
    #[pyo3(signature = (data, threads=None))]
    fn match_arrow(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        threads: Option<usize>,
    ) -> PyResult<ArrowStream> {
        let c = self.inner.clone();
        map_stream(py, data, threads, dip::result_schema(), move |b| {
            dip::match_batch(&c, b).map_err(|e| e.to_string())
        })
    }
}

/// A compiled table set.
#[pyclass(module = "drgsim._core", frozen)]
struct Grouper {
    inner: Arc<CoreGrouper>,
    additions: std::sync::OnceLock<Arc<counterfactual::Additions>>,
}

impl Grouper {
    fn wrap(g: CoreGrouper) -> Grouper {
        Grouper {
            inner: Arc::new(g),
            additions: std::sync::OnceLock::new(),
        }
    }
}

#[pymethods]
impl Grouper {
    /// Load and check the table set in a folder.
    #[staticmethod]
    fn load_dir(py: Python<'_>, path: PathBuf) -> PyResult<Grouper> {
        let r = py.detach(|| drgsim_core::load_dir(&path));
        r.map(Grouper::wrap).map_err(|e| table_err(py, e))
    }

    /// Load a built-in table set by name.
    #[staticmethod]
    fn builtin(py: Python<'_>, name: &str) -> PyResult<Grouper> {
        let files = builtin::files(name).ok_or_else(|| {
            exception(
                py,
                "TableNotFoundError",
                format!("no built-in table set '{name}'"),
                None,
            )
        })?;
        let r = py.detach(|| tables::compile(&files));
        r.map(Grouper::wrap).map_err(|e| table_err(py, e))
    }

    /// Metadata and counts as a dict.
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let g = &self.inner;
        let m = &g.meta;
        let d = PyDict::new(py);
        for (k, v) in [
            ("name", &m.name),
            ("version", &m.version),
            ("title", &m.title),
            ("dx_edition", &m.dx_edition),
            ("px_edition", &m.px_edition),
            ("source", &m.source),
            ("licence", &m.licence),
            ("description", &m.description),
            ("content_hash", &m.content_hash),
            ("origin", &m.origin),
        ] {
            d.set_item(k, v)?;
        }
        let (mdc, adrg, drg, cc, mcc) = g.counts();
        d.set_item("mdc", mdc)?;
        d.set_item("adrg", adrg)?;
        d.set_item("drg", drg)?;
        d.set_item("cc", cc)?;
        d.set_item("mcc", mcc)?;
        d.set_item("exclusion_tables", g.n_exclusion_tables)?;
        d.set_item("lists", g.lists.len())?;
        d.set_item("or_procedures", g.lists[0].bits.count())?;
        d.set_item("dx_codes", g.dx.len())?;
        d.set_item("px_codes", g.px.len())?;
        d.set_item("ambiguous_group", g.options.ambiguous_group)?;
        Ok(d)
    }

    /// MDCs in the order tried: (code, name, name_en).
    fn mdcs(&self) -> Vec<(String, String, String)> {
        let g = &self.inner;
        g.mdc_order
            .iter()
            .map(|&i| {
                (
                    g.mdcs[i].code.clone(),
                    g.mdcs[i].name.clone(),
                    g.mdcs[i].name_en.clone(),
                )
            })
            .collect()
    }

    /// ADRGs: (code, mdc, name, rule).
    fn adrgs(&self) -> Vec<(String, String, String, String)> {
        let g = &self.inner;
        g.adrgs
            .iter()
            .map(|a| {
                (
                    a.code.clone(),
                    g.mdcs[a.mdc].code.clone(),
                    a.name.clone(),
                    a.when_text.clone(),
                )
            })
            .collect()
    }

    /// DRGs: (code, adrg, name, rule).
    fn drgs(&self) -> Vec<(String, String, String, String)> {
        let g = &self.inner;
        g.adrgs
            .iter()
            .flat_map(|a| {
                g.drgs[a.drgs.clone()].iter().map(|d| {
                    (
                        d.code.clone(),
                        a.code.clone(),
                        d.name.clone(),
                        d.when_text.clone(),
                    )
                })
            })
            .collect()
    }

    /// Code lists: (name, system, number of codes).
    fn lists(&self) -> Vec<(String, String, usize)> {
        self.inner
            .lists
            .iter()
            .map(|l| {
                (
                    l.name.clone(),
                    if l.is_dx { "dx" } else { "px" }.to_string(),
                    l.bits.count(),
                )
            })
            .collect()
    }

    /// Codes of one list (canonical spellings; prefix patterns end with `*`).
    fn list_codes(&self, name: &str) -> Option<Vec<String>> {
        let g = &self.inner;
        let l = g.lists.iter().find(|l| l.name == name)?;
        let t = if l.is_dx { &g.dx } else { &g.px };
        Some(l.bits.iter().map(|i| t.name(i).to_string()).collect())
    }

    /// Group an Arrow stream (an object with `__arrow_c_stream__`); returns an Arrow stream
    /// of the result columns, one row per input row, in input order.
    #[pyo3(signature = (data, trace=false, threads=None))]
    fn group_arrow(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        trace: bool,
        threads: Option<usize>,
    ) -> PyResult<ArrowStream> {
        let g = self.inner.clone();
        map_stream(py, data, threads, batch::result_schema(trace), move |b| {
            batch::group_batch(&g, b, trace).map_err(|e| e.to_string())
        })
    }

    /// Counterfactual pass (see drgsim_core::counterfactual) over an Arrow stream of cases;
    /// `drgs`/`rws` give the relative weight of each DRG.
    #[pyo3(signature = (data, drgs, rws, threads=None))]
    fn counterfactual_arrow(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        drgs: Vec<String>,
        rws: Vec<f64>,
        threads: Option<usize>,
    ) -> PyResult<ArrowStream> {
        let g = self.inner.clone();
        let add = self
            .additions
            .get_or_init(|| Arc::new(counterfactual::Additions::new(&g)))
            .clone();
        let map = drgs.into_iter().zip(rws).collect();
        let rw = counterfactual::weights_by_index(&g, &map);
        map_stream(
            py,
            data,
            threads,
            counterfactual::result_schema(),
            move |b| {
                counterfactual::counterfactual_batch(&g, &add, &rw, b).map_err(|e| e.to_string())
            },
        )
    }
}

/// Result batches exported through the Arrow PyCapsule interface.
#[pyclass(module = "drgsim._core", frozen)]
struct ArrowStream {
    batches: std::sync::Mutex<Option<Vec<RecordBatch>>>,
    schema: arrow_schema::SchemaRef,
}

#[pymethods]
impl ArrowStream {
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let batches = self
            .batches
            .lock()
            .map_err(|_| PyTypeError::new_err("stream lock poisoned"))?
            .take()
            .ok_or_else(|| PyTypeError::new_err("this Arrow stream was already consumed"))?;
        let it = RecordBatchIterator::new(
            batches.into_iter().map(Ok::<_, ArrowError>),
            self.schema.clone(),
        );
        let stream = FFI_ArrowArrayStream::new(Box::new(it));
        PyCapsule::new_with_value_and_destructor(py, stream, c"arrow_array_stream", |s, _| drop(s))
    }
}

type Findings = Vec<(String, usize, &'static str, String)>;
type DrgRows = Vec<(String, String, usize, bool)>;
type Lint = (Findings, DrgRows, Vec<String>);

fn lint_report(py: Python<'_>, files: TableFiles) -> PyResult<Lint> {
    let r = py
        .detach(|| lint::check(&files))
        .map_err(|e| table_err(py, e))?;
    Ok((
        r.findings
            .into_iter()
            .map(|f| {
                (
                    f.problem.file,
                    f.problem.line,
                    f.severity.as_str(),
                    f.problem.message,
                )
            })
            .collect(),
        r.drgs
            .into_iter()
            .map(|d| (d.code, d.adrg, d.line, d.reachable))
            .collect(),
        r.qy,
    ))
}

/// Analyse a table-set folder: (findings as (file, line, severity, message), DRGs as
/// (code, adrg, line, reachable), the 歧义组 codes the set forms).
#[pyfunction]
fn lint_dir(py: Python<'_>, path: PathBuf) -> PyResult<Lint> {
    let files = TableFiles::from_dir(&path).map_err(|e| table_err(py, e))?;
    lint_report(py, files)
}

/// Analyse a built-in table set, as `lint_dir`.
#[pyfunction]
fn lint_builtin(py: Python<'_>, name: &str) -> PyResult<Lint> {
    let files = builtin::files(name).ok_or_else(|| {
        exception(
            py,
            "TableNotFoundError",
            format!("no built-in table set {name:?}"),
            None,
        )
    })?;
    lint_report(py, files)
}

/// Write the manifest (`MANIFEST.sha256`) of a table-set folder; returns its text.
#[pyfunction]
fn seal_dir(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    tables::seal_dir(&path).map_err(|e| table_err(py, e))
}

/// Names of the built-in table sets.
#[pyfunction]
fn builtin_names() -> Vec<&'static str> {
    builtin::names()
}

/// One file of a built-in table set (e.g. `weights.csv`, `README.md`), as bytes.
#[pyfunction]
fn builtin_file(name: &str, file: &str) -> Option<Vec<u8>> {
    builtin::file(name, file).map(<[u8]>::to_vec)
}

/// Hash of every file read with a table-set folder (a cache key for it; see
/// `TableFiles::files_hash`).
#[pyfunction]
fn files_hash(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    TableFiles::from_dir(&path)
        .map(|f| f.files_hash())
        .map_err(|e| table_err(py, e))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Grouper>()?;
    m.add_class::<ArrowStream>()?;
    m.add_class::<DipCatalogue>()?;
    m.add_function(wrap_pyfunction!(lint_dir, m)?)?;
    m.add_function(wrap_pyfunction!(lint_builtin, m)?)?;
    m.add_function(wrap_pyfunction!(seal_dir, m)?)?;
    m.add_function(wrap_pyfunction!(builtin_names, m)?)?;
    m.add_function(wrap_pyfunction!(builtin_file, m)?)?;
    m.add_function(wrap_pyfunction!(files_hash, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
