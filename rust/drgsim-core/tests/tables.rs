//! Loading checks and grouping semantics on a small table set written by the tests.

use drgsim_core::codes::NONE;
use drgsim_core::{compile, Case, Grouper, Reason, Status, TableFiles};

fn files(pairs: &[(&str, &str)]) -> TableFiles {
    TableFiles {
        files: pairs
            .iter()
            .map(|(n, c)| (n.to_string(), c.as_bytes().to_vec()))
            .collect(),
        origin: "test".into(),
    }
}

const TABLESET: &str = r#"format = 1
[tableset]
name = "mini"
version = "0.1"
[grouping]
mdc_order = ["A", "G", "B", "M"]
ambiguous_group = true
"#;

const MDC: &str = r#"
[[mdc]]
code = "A"
when = "principal_px in A_px"

[[mdc]]
code = "B"
when = "principal_dx in B_dx"

[[mdc]]
code = "G"
when = "principal_dx in G_dx"

[[mdc]]
code = "M"
when = "principal_dx in M_dx and sex == male"
sex = "male"
"#;

const ADRG: &str = r#"
[[adrg]]
code = "AH1"
mdc = "A"
when = "principal_px in A_px"
[[adrg.drg]]
code = "AH19"

[[adrg]]
code = "GE1"
mdc = "G"
when = "principal_dx in GE1_dx and principal_px in GE1_px"
[[adrg.drg]]
code = "GE11"
when = "mcc"
[[adrg.drg]]
code = "GE13"
when = "cc_or_mcc"
[[adrg.drg]]
code = "GE15"

[[adrg]]
code = "GZ1"
mdc = "G"
when = "true"
[[adrg.drg]]
code = "GZ19"

[[adrg]]
code = "BR1"
mdc = "B"
when = "principal_dx in B_dx and (age >= 18 or 2 of (any_dx in R1, any_dx in R2, los > 3))"
[[adrg.drg]]
code = "BR11"
when = "mcc"
[[adrg.drg]]
code = "BR15"

[[adrg]]
code = "MZ1"
mdc = "M"
when = "true"
[[adrg.drg]]
code = "MZ19"
"#;

const LISTS: &str = "list,system,code,match
A_px,px,39.6500,
B_dx,dx,I63.900,
B_dx,dx,I61,prefix
R1,dx,I63.900,
R2,dx,J18.900,
G_dx,dx,K35.800x001,
GE1_dx,dx,K35.800x001,
GE1_px,px,47.0901,
M_dx,dx,N40.x00,
";

const CC: &str = "code,level,exclusion_table
J96.000,MCC,9
J18.900,CC,5
I61.900,MCC,7
";
const CCE: &str = "principal_dx,exclusion_table
I63.900,7
";
const OR: &str = "code\n47.0901\n39.6500\n51.2300\n";

fn mini() -> Grouper {
    compile(&files(&[
        ("tableset.toml", TABLESET),
        ("mdc.toml", MDC),
        ("adrg.toml", ADRG),
        ("code_lists.csv", LISTS),
        ("cc.csv", CC),
        ("cc_exclusions.csv", CCE),
        ("or_procedures.csv", OR),
        ("gray_codes.csv", "system,code\ndx,R69.x00\n"),
        (
            "code_maps.csv",
            "system,input_code,grouper_code\ndx,K35.801,K35.800x001\n",
        ),
    ]))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn ids(g: &Grouper, dx: &[&str], px: &[&str]) -> (Vec<u32>, Vec<u32>) {
    (
        dx.iter().map(|c| g.resolve_dx(c).id()).collect(),
        px.iter().map(|c| g.resolve_px(c).id()).collect(),
    )
}

fn run(
    g: &Grouper,
    sex: f64,
    age: f64,
    dx: &[&str],
    px: &[&str],
) -> (String, drgsim_core::Outcome) {
    let (d, p) = ids(g, dx, px);
    let case = Case {
        sex: Some(sex),
        age: Some(age),
        los: Some(2.0),
        dx: &d,
        px: &p,
        ..Case::default()
    };
    let o = g.group(&case, None, None);
    (g.drg_code(&o), o)
}

#[test]
fn groups_and_splits() {
    let g = mini();
    assert_eq!(run(&g, 1.0, 30.0, &["K35.800x001"], &["47.0901"]).0, "GE15");
    assert_eq!(
        run(&g, 1.0, 30.0, &["K35.800x001", "J18.900"], &["47.0901"]).0,
        "GE13"
    );
    let (drg, o) = run(
        &g,
        1.0,
        30.0,
        &["K35.800x001", "J18.900", "J96.000"],
        &["47.0901"],
    );
    assert_eq!(drg, "GE11");
    assert_eq!(g.dx.name(o.cc_code), "J96.000");
    // input-code map applies to an unknown code
    assert_eq!(run(&g, 1.0, 30.0, &["k35.801"], &["47.0901"]).0, "GE15");
    // pre-MDC first
    assert_eq!(run(&g, 1.0, 30.0, &["K35.800x001"], &["39.6500"]).0, "AH19");
}

#[test]
fn exclusions_prefix_and_at_least() {
    let g = mini();
    // I61.900 is an MCC but shares the principal's exclusion table 7
    assert_eq!(run(&g, 1.0, 30.0, &["I63.900", "I61.900"], &[]).0, "BR15");
    assert_eq!(run(&g, 1.0, 30.0, &["I63.900", "J96.000"], &[]).0, "BR11");
    // prefix pattern: an unknown I61 code enters MDC B
    assert_eq!(run(&g, 1.0, 30.0, &["I61.800x001"], &[]).0, "BR15");
    // child: age < 18 needs 2 of (R1, R2, los > 3): I63.900 is in R1, J18.900 in R2
    assert_eq!(run(&g, 1.0, 10.0, &["I63.900", "J18.900"], &[]).0, "BR15");
    let (drg, o) = run(&g, 1.0, 10.0, &["I63.900"], &[]);
    assert_eq!((drg.as_str(), o.reason), ("0000", Some(Reason::NoAdrg)));
}

#[test]
fn qy_sex_conflict_and_invalid() {
    let g = mini();
    // OR procedure unrelated to the principal: G has a surgical ADRG, GE1 fails -> GQY
    let (drg, o) = run(&g, 1.0, 30.0, &["K35.800x001"], &["51.2300"]);
    assert_eq!((drg.as_str(), o.status), ("GQY", Status::Ambiguous));
    let (drg, o) = run(&g, 2.0, 70.0, &["N40.x00"], &[]);
    assert_eq!(
        (drg.as_str(), o.reason),
        ("0000", Some(Reason::SexConflict))
    );
    assert_eq!(run(&g, 1.0, 70.0, &["N40.x00"], &[]).0, "MZ19");
    let (_, o) = run(&g, 1.0, 70.0, &["R69.x00"], &[]);
    assert_eq!(o.reason, Some(Reason::GrayPrincipalDx));
    let (_, o) = run(&g, 1.0, 70.0, &["ZZZ"], &[]);
    assert_eq!(o.reason, Some(Reason::UnknownPrincipalDx));
    let (_, o) = run(&g, 3.0, 70.0, &["I63.900"], &[]);
    assert_eq!(o.reason, Some(Reason::InvalidSex));
    let (d, p) = ids(&g, &[], &[]);
    let o = g.group(
        &Case {
            dx: &d,
            px: &p,
            age: Some(1.0),
            ..Case::default()
        },
        None,
        None,
    );
    assert_eq!(o.reason, Some(Reason::EmptyPrincipalDx));
    let (d, p) = ids(&g, &["I63.900"], &[]);
    let o = g.group(
        &Case {
            dx: &d,
            px: &p,
            ..Case::default()
        },
        None,
        None,
    );
    assert_eq!(o.reason, Some(Reason::MissingAge));
    let o = g.group(
        &Case {
            dx: &d,
            px: &p,
            age: Some(-1.0),
            ..Case::default()
        },
        None,
        None,
    );
    assert_eq!((o.reason, o.drg), (Some(Reason::BadValue), NONE));
}

#[test]
fn trace_records_each_step() {
    let g = mini();
    let (d, p) = ids(&g, &["K35.800x001", "J96.000"], &["47.0901"]);
    let mut t = Vec::new();
    let o = g.group(
        &Case {
            sex: Some(1.0),
            age: Some(30.0),
            dx: &d,
            px: &p,
            ..Case::default()
        },
        None,
        Some(&mut t),
    );
    assert_eq!(g.drg_code(&o), "GE11");
    let steps: Vec<_> = t
        .iter()
        .map(|s| (s.step, s.rule.as_str(), s.outcome))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("cc", "MCC", "counted"),
            ("mdc", "MDCA", "fail"),
            ("mdc", "MDCG", "pass"),
            ("adrg", "GE1", "pass"),
            ("drg", "GE11", "pass"),
        ]
    );
    assert_eq!(t[2].code.as_deref(), Some("K35.800x001"));
    assert_eq!(t[4].code.as_deref(), Some("J96.000"));
}

#[test]
fn every_problem_is_reported_with_file_and_line() {
    let bad_adrg = r#"
[[adrg]]
code = "GE1"
mdc = "G"
when = "principal_dx in NOPE"
[[adrg.drg]]
code = "XX11"

[[adrg]]
code = "GE2"
mdc = "Q"
when = "principal_dx in GE1_dx"
[[adrg.drg]]
code = "GE21"

[[adrg]]
code = "GE3"
mdc = "G"
when = "principal_px in GE1_dx and age >"
[[adrg.drg]]
code = "GE31"
"#;
    let err = compile(&files(&[
        (
            "tableset.toml",
            TABLESET.replace("\"M\"]", "\"M\", \"Q\"]").as_str(),
        ),
        ("mdc.toml", MDC),
        ("adrg.toml", bad_adrg),
        ("code_lists.csv", LISTS),
        ("cc.csv", "code,level,exclusion_table\nJ96.000,SEVERE,9\n"),
    ]))
    .unwrap_err();
    let drgsim_core::TableError::Invalid { problems, .. } = err else {
        panic!("{err}")
    };
    let got: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
    let want = [
        "cc.csv:2: level must be 'MCC' or 'CC', not 'SEVERE'",
        "adrg.toml:5: ADRG GE1: unknown list 'NOPE'",
        "adrg.toml:6: DRG 'XX11' does not start with its ADRG 'GE1'",
        "adrg.toml:9: ADRG GE2: MDC 'Q' is not in mdc.toml",
        "adrg.toml:19: ADRG GE3: rule 'principal_px in GE1_dx and age >' does not parse at column 33: expected a number after 'age >'",
        "tableset.toml:6: mdc_order names 'Q', which is not in mdc.toml",
    ];
    for w in want {
        assert!(got.iter().any(|g| g == w), "missing {w:?} in {got:#?}");
    }
    // the wrong-system check
    let err = compile(&files(&[
        ("tableset.toml", TABLESET),
        ("mdc.toml", MDC),
        (
            "adrg.toml",
            &ADRG.replace("principal_px in GE1_px", "principal_px in GE1_dx"),
        ),
        ("code_lists.csv", LISTS),
    ]))
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("'principal_px' needs a px list, but 'GE1_dx' is a dx list"),
        "{err}"
    );
    // missing required files
    let err = compile(&files(&[("tableset.toml", TABLESET)])).unwrap_err();
    assert!(
        err.to_string()
            .contains("mdc.toml: required file is missing"),
        "{err}"
    );
}
