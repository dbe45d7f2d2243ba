//! Differential test: the planned, paged executor against the naive reference evaluator, on
//! seeded random graphs and seeded random queries. Rows must agree as multisets (TOP: the
//! executor's rows are a sub-multiset of the right size), and paging must not change them.

use serde_json::{json, Value};
use twingraph_engine::Engine;

use super::reference;
use super::tests::{open, relate, twin};
use crate::planner::HopRules;
use crate::{next_page, prepare, QueryOptions};

/// splitmix64: small, seeded, good enough to pick test cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const MODELS: [&str; 5] = [
    "dtmi:test:Space;1",
    "dtmi:test:Room;1",
    "dtmi:test:Room;2",
    "dtmi:test:Floor;1",
    "dtmi:test:Sensor;1",
];
const NAMES: [&str; 3] = ["contains", "feeds", "near"];

fn random_twin(engine: &Engine, rng: &mut Rng, t: usize) {
    let mut props = json!({});
    if rng.chance(60) {
        props["name"] = json!(rng.pick(&["a", "b", "ab", "ba"]));
    }
    if rng.chance(60) {
        props["temperature"] = json!(rng.pick(&[10.0, 20.5, 21.0, 30.0]));
    }
    if rng.chance(50) {
        props["level"] = json!(rng.below(3));
    }
    if rng.chance(40) {
        props["active"] = json!(rng.chance(50));
    }
    if rng.chance(40) {
        props["tags"] = json!({"color": rng.pick(&["red", "blue"])});
    }
    if rng.chance(30) {
        let floors: Vec<usize> = (1..=3).filter(|_| rng.chance(50)).collect();
        props["floors"] = json!(floors);
    }
    let model = *rng.pick(&MODELS);
    twin(engine, &format!("t{t}"), model, props);
}

/// Deletes twin `t{t}` and every relationship from or to it.
fn delete_with_relationships(engine: &Engine, t: usize) {
    let id = format!("t{t}");
    let snap = engine.snapshot();
    let num = snap.twin_num(&id).expect("read").expect("the twin");
    let mut rels: Vec<(String, String)> = snap
        .out_edges(num, None)
        .iter()
        .map(|e| (id.clone(), e.id.to_string()))
        .collect();
    for e in snap.in_edges(num).iter() {
        let source = snap
            .twin_by_num(e.other)
            .expect("read")
            .expect("the source");
        rels.push((source.id, e.id.to_string()));
    }
    drop(snap);
    for (source, rel) in rels {
        engine
            .delete_relationship(&source, &rel, None)
            .expect("delete relationship");
    }
    engine.delete_twin(&id, None).expect("delete twin");
}

fn random_graph(engine: &Engine, rng: &mut Rng) -> usize {
    let twins = 6 + rng.below(10);
    for t in 0..twins {
        random_twin(engine, rng, t);
    }
    let relationships = twins + rng.below(twins * 2);
    for r in 0..relationships {
        let source = rng.below(twins);
        let target = (source + 1 + rng.below(twins - 1)) % twins;
        let name = *rng.pick(&NAMES);
        let props = if name != "near" && rng.chance(50) {
            json!({"weight": 1 + rng.below(3)})
        } else {
            json!({})
        };
        relate(
            engine,
            &format!("t{source}"),
            &format!("r{r}"),
            name,
            &format!("t{target}"),
            props,
        );
    }
    twins
}

/// A random condition on twin variable `v` (`""`: unqualified).
fn twin_condition(rng: &mut Rng, v: &str, twins: usize, alias_for_model: Option<&str>) -> String {
    let p = if v.is_empty() {
        String::new()
    } else {
        format!("{v}.")
    };
    let id = |rng: &mut Rng| format!("t{}", rng.below(twins + 1));
    match rng.below(15) {
        0 => format!(
            "{p}temperature {} {}",
            rng.pick(&["=", "!=", "<", ">", "<=", ">="]),
            rng.pick(&["20.5", "21", "15"])
        ),
        1 => format!("{p}name = '{}'", rng.pick(&["a", "b", "ab"])),
        2 => format!("{p}name != 'a'"),
        3 => format!("{p}level IN [0, 2]"),
        4 => format!("{p}level NIN [1]"),
        5 => format!("IS_DEFINED({p}tags.color)"),
        6 => format!("{p}tags.color = 'red'"),
        7 => {
            let model = rng.pick(&MODELS);
            let exact = if rng.chance(30) { ", exact" } else { "" };
            match alias_for_model {
                Some(a) => format!("IS_OF_MODEL({a}, '{model}'{exact})"),
                None => format!("IS_OF_MODEL('{model}'{exact})"),
            }
        }
        8 => format!("{p}$dtId = '{}'", id(rng)),
        9 => format!("{p}$dtId IN ['{}', '{}']", id(rng), id(rng)),
        10 => format!("STARTSWITH({p}$dtId, 't1')"),
        11 => format!("ARRAY_CONTAINS({p}floors, 2)"),
        12 => format!("{p}active = true"),
        13 => format!("IS_NUMBER({p}temperature)"),
        _ => format!("{p}$metadata.$model = '{}'", rng.pick(&MODELS)),
    }
}

fn relationship_condition(rng: &mut Rng, r: &str, twins: usize) -> String {
    match rng.below(6) {
        0 => format!("{r}.weight > 1"),
        1 => format!("{r}.$relationshipName = '{}'", rng.pick(&NAMES)),
        2 => format!("{r}.$sourceId = 't{}'", rng.below(twins)),
        3 => format!(
            "{r}.$targetId IN ['t{}', 't{}']",
            rng.below(twins),
            rng.below(twins)
        ),
        4 => format!("IS_DEFINED({r}.weight)"),
        _ => format!("NOT {r}.weight = 2"),
    }
}

/// Combines leaf conditions with AND, OR and NOT, up to two levels deep.
fn combine(rng: &mut Rng, leaf: &mut dyn FnMut(&mut Rng) -> String, depth: u32) -> String {
    if depth == 0 || rng.chance(40) {
        return leaf(rng);
    }
    match rng.below(3) {
        0 => format!(
            "({} AND {})",
            combine(rng, leaf, depth - 1),
            combine(rng, leaf, depth - 1)
        ),
        1 => format!(
            "({} OR {})",
            combine(rng, leaf, depth - 1),
            combine(rng, leaf, depth - 1)
        ),
        _ => format!("NOT {}", combine(rng, leaf, depth - 1)),
    }
}

fn random_query(rng: &mut Rng, twins: usize) -> (String, bool) {
    match rng.below(10) {
        0..=3 => {
            let alias = if rng.chance(70) { "T" } else { "" };
            let select = match rng.below(5) {
                0 => "*".to_string(),
                1 => "COUNT()".to_string(),
                2 => format!("TOP({}) *", 1 + rng.below(4)),
                3 if !alias.is_empty() => "T.name, T.temperature AS temp, T.$dtId".to_string(),
                _ => "name, tags.color".to_string(),
            };
            let model_alias = (!alias.is_empty() && rng.chance(50)).then_some(alias);
            let cond = combine(
                rng,
                &mut |r| twin_condition(r, alias, twins, model_alias),
                2,
            );
            (
                format!("SELECT {select} FROM DIGITALTWINS {alias} WHERE {cond}"),
                false,
            )
        }
        4..=5 => {
            let select = *rng.pick(&[
                "*",
                "COUNT()",
                "R.$relationshipId AS id, R.weight",
                "TOP(2) R",
            ]);
            let cond = combine(rng, &mut |r| relationship_condition(r, "R", twins), 2);
            let filter = if rng.chance(80) {
                format!(" WHERE {cond}")
            } else {
                String::new()
            };
            (
                format!("SELECT {select} FROM RELATIONSHIPS R{filter}"),
                false,
            )
        }
        6..=7 => {
            let joins = 1 + rng.below(3);
            let mut twin_vars = vec!["A".to_string()];
            let mut rel_vars = Vec::new();
            let mut from = "FROM DIGITALTWINS A".to_string();
            for j in 0..joins {
                let target = ["B", "C", "D"][j].to_string();
                let source = rng.pick(&twin_vars).clone();
                let name = rng.pick(&NAMES);
                from.push_str(&format!(" JOIN {target} RELATED {source}.{name}"));
                if rng.chance(50) {
                    let r = format!("R{j}");
                    from.push_str(&format!(" {r}"));
                    rel_vars.push(r);
                }
                twin_vars.push(target);
            }
            let anchor = rng.pick(&twin_vars).clone();
            let mut conds = vec![if rng.chance(50) {
                format!("{anchor}.$dtId = 't{}'", rng.below(twins))
            } else {
                format!(
                    "{anchor}.$dtId IN ['t{}', 't{}', 't{}']",
                    rng.below(twins),
                    rng.below(twins),
                    rng.below(twins)
                )
            }];
            for _ in 0..rng.below(3) {
                if !rel_vars.is_empty() && rng.chance(30) {
                    let r = rng.pick(&rel_vars).clone();
                    conds.push(relationship_condition(rng, &r, twins));
                } else {
                    let v = rng.pick(&twin_vars).clone();
                    conds.push(twin_condition(rng, &v, twins, Some(&v)));
                }
            }
            let select = if rng.chance(25) {
                "COUNT()".to_string()
            } else {
                twin_vars.join(", ")
            };
            (
                format!("SELECT {select} {from} WHERE {}", conds.join(" AND ")),
                false,
            )
        }
        _ => {
            let edges = 1 + rng.below(3);
            let mut pattern = "(n0)".to_string();
            let mut named = vec!["n0".to_string()];
            let mut rel_vars = Vec::new();
            for e in 1..=edges {
                let names = *rng.pick(&["", ":contains", ":contains|feeds", ":near"]);
                let hops = *rng.pick(&["", "", "", "*2", "*1..3", "*..2", "*0..2"]);
                let var = if hops.is_empty() && rng.chance(40) {
                    rel_vars.push(format!("r{e}"));
                    format!("r{e}")
                } else {
                    String::new()
                };
                let (left, right) = *rng.pick(&[("-", "->"), ("<-", "-"), ("-", "-")]);
                let node = if e < edges && rng.chance(25) {
                    "()".to_string()
                } else {
                    named.push(format!("n{e}"));
                    format!("(n{e})")
                };
                pattern.push_str(&format!("{left}[{var}{names}{hops}]{right}{node}"));
            }
            let anchor = rng.pick(&named).clone();
            let mut conds = vec![format!(
                "{anchor}.$dtId IN ['t{}', 't{}']",
                rng.below(twins),
                rng.below(twins)
            )];
            if rng.chance(50) {
                let v = rng.pick(&named).clone();
                conds.push(twin_condition(rng, &v, twins, Some(&v)));
            }
            if !rel_vars.is_empty() && rng.chance(50) {
                let r = rng.pick(&rel_vars).clone();
                conds.push(relationship_condition(rng, &r, twins));
            }
            let select = if rng.chance(25) {
                "COUNT()".to_string()
            } else {
                named
                    .iter()
                    .map(|n| format!("{n}.$dtId AS {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let query = format!(
                "SELECT {select} FROM DIGITALTWINS MATCH {pattern} WHERE {}",
                conds.join(" AND ")
            );
            (query, rng.chance(30))
        }
    }
}

fn sorted(rows: &[Value]) -> Vec<String> {
    let mut rows: Vec<String> = rows.iter().map(Value::to_string).collect();
    rows.sort();
    rows
}

#[test]
fn planned_executor_matches_the_reference() {
    let mut cases = 0;
    // Cases whose answer is non-trivial (rows, or a non-zero count), so the test cannot pass
    // by comparing empty results.
    let mut nonempty = 0;
    for seed in 0..12u64 {
        let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) + 7);
        let dir = tempfile::tempdir().expect("tempdir");
        let engine = open(dir.path());
        let twins = random_graph(&engine, &mut rng);
        let first = engine.snapshot();
        let mut later = None;
        for round in 0..260 {
            if round == 130 {
                // Once the caches hold the first versions, rewrite half the twins, and
                // delete a few (with their relationships) and create them again under new
                // twin numbers: queries on either snapshot must see only their own.
                for t in 0..twins {
                    if rng.chance(50) {
                        if rng.chance(20) {
                            delete_with_relationships(&engine, t);
                        }
                        random_twin(&engine, &mut rng, t);
                    }
                }
                later = Some(engine.snapshot());
            }
            let snap = match &later {
                Some(later) if round % 2 == 0 => later,
                _ => &first,
            };
            let (text, cypher_hops) = random_query(&mut rng, twins);
            let options = QueryOptions {
                cypher_hops,
                ..QueryOptions::default()
            };
            let prepared = prepare(&text, &options).unwrap_or_else(|e| panic!("{text}: {e}"));
            let scope = crate::check::check(&text, prepared.query()).expect("checked");
            let expected = reference::evaluate(
                snap,
                prepared.query(),
                &scope,
                HopRules {
                    cypher: cypher_hops,
                },
            );

            let whole = prepared.first_page(snap, 1000, &options).expect("execute");
            assert!(whole.continuation.is_none(), "{text}");
            let size = 1 + rng.below(5);
            let mut page = prepared.first_page(snap, size, &options).expect("execute");
            let mut paged = std::mem::take(&mut page.rows);
            while let Some(token) = page.continuation.take() {
                page = next_page(snap, &token, size, &options).expect("next page");
                assert!(!page.rows.is_empty() && page.rows.len() <= size, "{text}");
                paged.append(&mut page.rows);
            }
            assert_eq!(
                paged, whole.rows,
                "{text}: paging by {size} changed the rows"
            );
            let whole_rows = super::tests::values(&whole.rows);

            let trivial = expected.is_empty() || expected == [json!({"COUNT": 0})];
            nonempty += usize::from(!trivial);
            let top = prepared
                .query()
                .select
                .top
                .as_ref()
                .map(|t| t.count as usize);
            match top {
                Some(n) => {
                    assert_eq!(whole_rows.len(), n.min(expected.len()), "{text}");
                    let mut pool = sorted(&expected);
                    for row in sorted(&whole_rows) {
                        let at = pool.iter().position(|r| *r == row);
                        let at = at.unwrap_or_else(|| panic!("{text}: unexpected row {row}"));
                        pool.remove(at);
                    }
                }
                None => assert_eq!(
                    sorted(&whole_rows),
                    sorted(&expected),
                    "{text}\n{}",
                    prepared.explain()
                ),
            }
            cases += 1;
        }
    }
    assert!(cases >= 3000);
    assert!(
        nonempty * 3 >= cases,
        "only {nonempty} of {cases} cases have rows"
    );
    eprintln!("differential: {cases} cases, {nonempty} with rows");
}
