"""The compositional probe: edit rules on hand-written sentences, pair building, scoring and statistics."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from diagnostics._validation import InputError
from diagnostics.dataset import Dataset, load_dataset
from diagnostics.probe import (
    EDIT_RULES,
    build_pairs,
    edit_sentence,
    probe_summary,
    score_pairs,
    split_sentences,
)
from diagnostics.sample import sample_paths
from diagnostics.statistics import OVERALL

# --- encoders written for the tests --------------------------------------------------------------------

DIM = 512


def _bucket(feature: str) -> int:
    return int.from_bytes(hashlib.sha256(feature.encode()).digest()[:4], "little") % DIM


def bag_of_words(texts: list[str]) -> np.ndarray:
    """Hashed bag of lower-case words: blind to word order by construction."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            out[row, _bucket(word)] += 1.0
    return out


def positional(texts: list[str]) -> np.ndarray:
    """Hashed words and (word, position) features: sees word order."""
    out = bag_of_words(texts)
    for row, text in enumerate(texts):
        for position, word in enumerate(re.findall(r"\w+", text.lower())):
            out[row, _bucket(f"{position}:{word}")] += 1.0
    return out


@pytest.fixture(scope="module")
def sample() -> Dataset:
    return load_dataset(sample_paths().corpus)


# --- split_sentences -----------------------------------------------------------------------------------


def test_split_sentences_cuts_after_end_punctuation_and_white_space() -> None:
    assert split_sentences("The cell divides. It grows!  Why?\nDone") == [
        "The cell divides.", "It grows!", "Why?", "Done"]
    assert split_sentences("Version 3.6 is out.") == ["Version 3.6 is out."]
    assert split_sentences("   ") == []
    with pytest.raises(InputError, match="text must be a string; got int"):
        split_sentences(3)  # type: ignore[arg-type]


# --- each rule fires with the exact expected edit ------------------------------------------------------

FIRES = [
    # negation: insert after the first auxiliary, or remove the one auxiliary negation
    ("negation", "The valve is above the pump.", "The valve is not above the pump."),
    ("negation", "The drug can cross the barrier.", "The drug cannot cross the barrier."),
    ("negation", "The drug cannot cross the barrier.", "The drug can cross the barrier."),
    ("negation", "The patients were treated twice.", "The patients were not treated twice."),
    ("negation", "The cell has divided twice.", "The cell has not divided twice."),
    ("negation", "The cell does divide.", "The cell does not divide."),
    ("negation", "It does not work.", "It does work."),
    ("negation", "The pump isn't running.", "The pump is running."),
    ("negation", "Doesn't the pump run?", "Does the pump run?"),
    ("negation", "The alarm will sound.", "The alarm will not sound."),
    ("negation", "Which drugs are not effective?", "Which drugs are effective?"),
    # role_swap: subject and object of a simple transitive clause
    ("role_swap", "The nurse examined the patient.", "The patient examined the nurse."),
    ("role_swap", "A dog chased the cat and barked.", "The cat chased a dog and barked."),
    ("role_swap", "The red cat chased the small brown mouse.", "The small brown mouse chased the red cat."),
    ("role_swap", "The enzyme cleaves DNA.", "DNA cleaves the enzyme."),
    ("role_swap", "These drugs inhibit the enzymes.", "The enzymes inhibit these drugs."),
    ("role_swap", "The model outperforms the baseline in all cases.",
     "The baseline outperforms the model in all cases."),
    # word_order: the operands of an ordered construction
    ("word_order", "We measured the signal-to-noise ratio.", "We measured the noise-to-signal ratio."),
    ("word_order", "Cells migrate from the cytoplasm to the nucleus.",
     "Cells migrate from the nucleus to the cytoplasm."),
    ("word_order", "Blood flows from left to right.", "Blood flows from right to left."),
    ("word_order", "We report the ratio of sodium to potassium.", "We report the ratio of potassium to sodium."),
    ("word_order", "We used the chemotherapy followed by the surgery.",
     "We used the surgery followed by the chemotherapy."),
    ("word_order", "They chose the train rather than the plane.", "They chose the plane rather than the train."),
    ("word_order", "The surgery followed by rest works.", None),  # different operand shapes: refused
    # relation: antonyms, whole words, first occurrence only
    ("relation", "The valve is above the pump.", "The valve is below the pump."),
    ("relation", "Wash hands after the visit.", "Wash hands before the visit."),
    ("relation", "An increase in pressure was seen.", "A decrease in pressure was seen."),
    ("relation", "A decrease in pressure was seen.", "An increase in pressure was seen."),
    ("relation", "The lesion is on the left side.", "The lesion is on the right side."),
    ("relation", "Doses higher than 5 mg are toxic.", "Doses lower than 5 mg are toxic."),
    ("relation", "It needs at least 5 threads.", "It needs at most 5 threads."),
    ("relation", "The cup is under the table.", "The cup is over the table."),
    ("relation", "The first dose is given at noon.", "The last dose is given at noon."),
    ("relation", "It takes more than an hour.", "It takes less than an hour."),
    ("relation", "Place it above the pump, then below the valve.", "Place it below the pump, then below the valve."),
]


@pytest.mark.parametrize(("rule", "sentence", "expected"), FIRES)
def test_each_rule_makes_the_exact_edit(rule: str, sentence: str, expected: str | None) -> None:
    assert edit_sentence(sentence).get(rule) == expected


# --- ... and refuses where the edit would be ungrammatical or ambiguous --------------------------------

REFUSES = [
    ("negation", "There was no effect, not even a trend."),  # two negations
    ("negation", "The effect was never seen."),  # a negation that is not on an auxiliary
    ("negation", "Why does aspirin reduce fever?"),  # inversion: "Why does not aspirin ..." is not English
    ("negation", "Is the drug safe?"),  # sentence-initial auxiliary
    ("negation", "can I continue working"),  # a query without "?": "cannot I" is not English
    ("negation", "after the contract ends can the customer still buy"),  # a modal before its subject
    ("negation", "engineer leaving, is there a paid restriction"),  # "is not there a ..." is not English
    ("negation", "The cell has a nucleus."),  # "has" as a main verb: "has not a nucleus"
    ("negation", "They did the work."),  # "do" as a main verb
    ("negation", "Open a can of beans."),  # "can" is a noun after a determiner
    ("negation", "Staff have not taken it yet."),  # removing "not" would strand "yet"
    ("negation", "He woke at 2 am."),  # "am" is a time
    ("negation", "Results vary widely."),  # no auxiliary at all
    ("role_swap", "The patient was examined by the nurse."),  # passive voice
    ("role_swap", "The nurse examined the head of the patient."),  # the object goes on with "of"
    ("role_swap", "The drug reduces symptoms."),  # "-s" verb with a plural object: agreement would break
    ("role_swap", "These drugs inhibit the enzyme."),  # bare verb with a singular object
    ("role_swap", "The results showed that the drug works."),  # verb not in the list, clausal object
    ("role_swap", "The nurse examined the patient carefully."),  # an adverb after the object
    ("role_swap", "The bundle contains system and radio logs."),  # a bare object inside a coordination
    ("role_swap", "The nurse examined the nurse."),  # swapping gives the same sentence
    ("role_swap", "Nurses examined the patient."),  # subject not determiner-led
    ("word_order", "We saw them from time to time."),  # identical operands
    ("word_order", "They switched from smoking to reduce stress."),  # "to" + a verb: an infinitive
    ("word_order", "Surgery followed by radiotherapy is standard."),  # a capitalised first operand
    ("word_order", "A return-to-work review is planned."),  # a verb-led compound, not two ordered nouns
    ("word_order", "Preheat from ambient to 150 °C at 2 K/s."),  # a number against a word
    ("word_order", "Payment within 10 days instead of 60 equates to a return."),  # unclear end of operand
    ("relation", "She left the room."),  # "left" as a verb
    ("relation", "The right to vote."),  # "right" as entitlement
    ("relation", "Costs rose over the past year."),  # "over" of time
    ("relation", "Glasses are covered under the company scheme."),  # "under" of a rule
    ("relation", "We need more samples."),  # "less samples" is not standard English
    ("relation", "Apply cream before and after the shift."),  # both antonyms together
    ("relation", "At first the drug worked."),  # idiom
    ("relation", "Pain in the lower back."),  # "lower" as a position, not a comparison
    ("relation", "A left-handed grip."),  # part of a hyphenated compound
    ("relation", "It was seen before."),  # "before" at the end of the clause
]


@pytest.mark.parametrize(("rule", "sentence"), REFUSES)
def test_each_rule_refuses_where_its_edit_would_break(rule: str, sentence: str) -> None:
    assert rule not in edit_sentence(sentence)


def test_case_is_kept() -> None:
    assert edit_sentence("ABOVE the line.")["relation"] == "BELOW the line."
    assert edit_sentence("Above the line it is warm.")["relation"] == "Below the line it is warm."
    assert edit_sentence("After the visit, rest.")["relation"] == "Before the visit, rest."
    assert edit_sentence("An Increase was seen.")["relation"] == "A Decrease was seen."
    assert edit_sentence("The pump Isn't running.")["negation"] == "The pump Is running."
    assert edit_sentence("The Cannot-list holds it.") == {}  # a compound, not the auxiliary
    assert edit_sentence("The FDA approved the Drug.")["role_swap"] == "The Drug approved the FDA."
    assert edit_sentence("The enzyme cleaves DNA.")["role_swap"] == "DNA cleaves the enzyme."
    assert edit_sentence("We measured the Signal-to-Noise ratio.")["word_order"] == \
        "We measured the Noise-to-Signal ratio."
    assert edit_sentence("The cytoplasm fed from the Golgi to the ER.")["word_order"] == \
        "The cytoplasm fed from the ER to the Golgi."


def test_edit_sentence_returns_only_rules_that_fire_in_rule_order_and_never_the_sentence(sample: Dataset) -> None:
    assert edit_sentence("") == {} and edit_sentence("Results vary widely.") == {}
    assert list(edit_sentence("The valve is above the pump.")) == ["negation", "relation"]
    fired = 0
    for text in sample.docs["text"].head(200):
        for sentence in split_sentences(text):
            edits = edit_sentence(sentence)
            assert set(edits) <= set(EDIT_RULES) and list(edits) == [r for r in EDIT_RULES if r in edits]
            assert all(edited != sentence.strip() and edited.strip() for edited in edits.values())
            fired += len(edits)
    assert fired > 100
    with pytest.raises(InputError, match="sentence must be a string; got NoneType"):
        edit_sentence(None)  # type: ignore[arg-type]


def test_edits_keep_everything_but_the_edited_words(sample: Dataset) -> None:
    """A relation or negation edit changes one or two words; the rest of the sentence is byte-identical."""
    for text in sample.docs["text"].head(100):
        for sentence in split_sentences(text):
            for rule in ("relation", "negation"):
                edited = edit_sentence(sentence).get(rule)
                if edited is None:
                    continue
                a, b = sentence.split(" "), edited.split(" ")
                changed = {w.lower().strip(".,;:") for w in set(a) ^ set(b)}
                assert 1 <= len(changed) <= 4, (sentence, edited)


# --- build_pairs ---------------------------------------------------------------------------------------

COLUMNS = ["pair_id", "domain", "source_kind", "source_id", "rule", "original", "edited", "context"]


def test_build_pairs_on_the_sample_is_deterministic_and_stratified(sample: Dataset) -> None:
    pairs = build_pairs(sample, per_domain=20, seed=0)
    assert list(pairs.columns) == COLUMNS
    pd.testing.assert_frame_equal(pairs, build_pairs(sample, per_domain=20, seed=0))
    assert not pairs.equals(build_pairs(sample, per_domain=20, seed=1))
    assert pairs["pair_id"].is_unique
    assert list(pairs["domain"].unique()) == sample.domains
    counts = pairs.groupby(["domain", "rule"]).size().unstack(fill_value=0)
    assert (counts.to_numpy() <= 5).all()  # 20 per domain, 5 per rule
    assert (counts["negation"] == 5).all() and (counts["relation"] == 5).all()  # the common rules fill up
    assert set(pairs["source_kind"]) == {"doc", "query"}
    for row in pairs.itertuples():
        assert row.edited == edit_sentence(row.original)[row.rule]
        assert row.context.strip() and row.original not in row.context
        assert row.pair_id == f"{row.rule}:{row.source_kind}:{row.source_id}"
    # the sample grows with per_domain: the first pairs drawn stay
    bigger = build_pairs(sample, per_domain=40, seed=0)
    assert set(pairs["pair_id"]) <= set(bigger["pair_id"])


def test_build_pairs_contexts_are_the_rest_of_the_document_or_a_judged_document() -> None:
    docs = pd.DataFrame({
        "id": ["d1", "d2", "d3", "d4"],
        "title": ["Pumps", "", "", "Valves"],
        "text": ["The valve sits above the pump. It hums all day long.",
                 "The valve sits above the pump today.",  # one sentence, no title: empty context
                 "Operators check it daily. The filter is under the sink unit.",
                 "The guide says the valve is above the pump."],
        "domain": ["plant"] * 4,
    })
    queries = pd.DataFrame({"id": ["q1", "q2"], "text": ["is the valve above the pump", "valve after the pump"],
                            "domain": ["plant", "plant"]})
    qrels = pd.DataFrame({"query_id": ["q1", "q2"], "doc_id": ["d4", "d1"], "score": [1, 0]})
    pairs = build_pairs(Dataset(docs, queries, qrels), per_domain=40)
    by_id = {p: row for p, row in zip(pairs["pair_id"], pairs.to_dict(orient="records"), strict=True)}
    assert by_id["relation:doc:d1"]["context"] == "Pumps It hums all day long."
    assert by_id["relation:doc:d1"]["edited"] == "The valve sits below the pump."
    assert "relation:doc:d2" not in by_id  # nothing left for a context
    assert by_id["relation:doc:d3"]["context"] == "Operators check it daily."
    assert by_id["relation:query:q1"]["context"] == "Valves The guide says the valve is above the pump."
    assert by_id["relation:query:q1"]["edited"] == "is the valve below the pump"
    assert not any(p.endswith(":q2") for p in by_id)  # q2 has no judged relevant document
    assert (pairs["source_kind"] == "query").sum() == 1


def test_build_pairs_validates_its_arguments(sample: Dataset) -> None:
    empty = build_pairs(sample, per_domain=0)
    assert list(empty.columns) == COLUMNS and empty.empty
    with pytest.raises(InputError, match="probe per_domain must be a whole number of at least 0; got -1"):
        build_pairs(sample, per_domain=-1)
    with pytest.raises(InputError, match="dataset must be a diagnostics Dataset"):
        build_pairs(sample.docs)  # type: ignore[arg-type]


# --- score_pairs ---------------------------------------------------------------------------------------


def _pairs(**columns: list[str]) -> pd.DataFrame:
    n = len(columns["original"])
    base = {"pair_id": [f"p{i}" for i in range(n)], "domain": ["d"] * n, "rule": ["relation"] * n}
    return pd.DataFrame({**base, **columns})


def test_score_pairs_hand_computed() -> None:
    pairs = _pairs(original=["a b", "a b"], edited=["a c", "b a"], context=["a b", "c"])
    scored = score_pairs(pairs, bag_of_words)
    # "a b" vs "a c": one shared word of two -> cosine 1/2; "a b" vs "b a": the same bag -> 1
    np.testing.assert_allclose(scored["cos_edit"], [0.5, 1.0])
    # context "a b" is nearer the original; context "c" ties the two (both 0): a tie does not prefer
    assert scored["prefers_original"].tolist() == [True, False]
    assert scored["prefers_original"].dtype == bool
    assert list(scored.columns) == [*pairs.columns, "cos_edit", "prefers_original"]


def test_an_encoder_blind_to_word_order_cannot_tell_swapped_pairs_apart(sample: Dataset) -> None:
    pairs = build_pairs(sample, per_domain=40)
    swapped = pairs["rule"].isin(["word_order", "role_swap"])
    assert swapped.any()
    blind = score_pairs(pairs, bag_of_words)
    np.testing.assert_allclose(blind.loc[swapped, "cos_edit"], 1.0, rtol=1e-6)
    assert not blind.loc[swapped, "prefers_original"].any()
    assert (blind.loc[~swapped, "cos_edit"] < 1.0 - 1e-6).all()  # negation and relation change the words
    seeing = score_pairs(pairs, positional)
    assert (seeing.loc[swapped, "cos_edit"] < 1.0 - 1e-6).all()


def test_score_pairs_encodes_each_text_once_and_checks_the_encoder() -> None:
    calls: list[list[str]] = []

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return bag_of_words(texts)

    pairs = _pairs(original=["a b", "a b"], edited=["a c", "a d"], context=["a b", "x y"])
    score_pairs(pairs, counting)
    assert len(calls) == 1 and sorted(calls[0]) == ["a b", "a c", "a d", "x y"]
    with pytest.raises(InputError, match=r"encode returned an array of shape \(2, 512\) for 4 texts"):
        score_pairs(pairs, lambda texts: bag_of_words(texts[:2]))
    with pytest.raises(InputError, match="encode returned non-finite values"):
        score_pairs(pairs, lambda texts: np.full((len(texts), 3), np.nan))
    with pytest.raises(InputError, match="pairs has no column 'context'"):
        score_pairs(pairs.drop(columns="context"), bag_of_words)
    empty = score_pairs(pairs.iloc[:0], counting)
    assert empty.empty and {"cos_edit", "prefers_original"} <= set(empty.columns) and len(calls) == 1


# --- probe_summary -------------------------------------------------------------------------------------

Encoder = Callable[[list[str]], np.ndarray]


@pytest.fixture(scope="module")
def scored(sample: Dataset) -> dict[str, pd.DataFrame]:
    pairs = build_pairs(sample, per_domain=20)
    return {"blind": score_pairs(pairs, bag_of_words), "seeing": score_pairs(pairs, positional)}


def test_identical_models_give_zero_deltas_with_intervals_around_zero(scored: dict[str, pd.DataFrame]) -> None:
    table = probe_summary(scored["seeing"], scored["seeing"], n_boot=200)
    domains = sorted(scored["seeing"]["domain"].unique())
    assert len(table) == (len(domains) + 1) * (len(EDIT_RULES) + 1)
    assert list(table["domain"].unique()) == [*domains, OVERALL]
    assert list(table["rule"].unique()) == [*EDIT_RULES, "all"]
    present = table[table["n_pairs"] > 0]
    for metric in ("cos_edit", "prefers_original"):
        assert (present[f"{metric}_delta"] == 0).all()
        assert (present[f"{metric}_ci_low"] <= 0).all() and (present[f"{metric}_ci_high"] >= 0).all()
        assert (present[f"{metric}_base"] == present[f"{metric}_tuned"]).all()
        inside = (present[f"{metric}_base_ci_low"] <= present[f"{metric}_base"] + 1e-12) & \
                 (present[f"{metric}_base"] <= present[f"{metric}_base_ci_high"] + 1e-12)
        assert inside.all()
    overall = table[(table["domain"] == OVERALL) & (table["rule"] == "all")].iloc[0]
    assert overall["n_pairs"] == len(scored["seeing"])
    per_rule = table[(table["domain"] == OVERALL) & (table["rule"] != "all")]["n_pairs"].sum()
    assert per_rule == len(scored["seeing"])


def test_a_model_that_sees_word_order_is_more_sensitive_on_swaps(scored: dict[str, pd.DataFrame]) -> None:
    table = probe_summary(scored["blind"], scored["seeing"], n_boot=500).set_index(["domain", "rule"])
    for rule in ("word_order", "role_swap"):
        row = table.loc[(OVERALL, rule)]
        assert row["cos_edit_base"] == pytest.approx(1.0)
        assert row["cos_edit_delta"] < 0 and row["cos_edit_ci_high"] < 0
        assert row["prefers_original_base"] == 0.0 and row["prefers_original_base_ci_high"] == 0.0
    # the all-rules row is the pair-weighted mean of the rules
    rules = table.loc[OVERALL].drop(index="all")
    mean = (rules["cos_edit_tuned"] * rules["n_pairs"]).sum() / rules["n_pairs"].sum()
    assert table.loc[(OVERALL, "all"), "cos_edit_tuned"] == pytest.approx(mean)


def test_probe_summary_is_seeded_and_marks_empty_cells(scored: dict[str, pd.DataFrame]) -> None:
    base = scored["blind"][scored["blind"]["rule"] != "role_swap"].reset_index(drop=True)
    tuned = scored["seeing"][scored["seeing"]["rule"] != "role_swap"].reset_index(drop=True)
    a = probe_summary(base, tuned, seed=3, n_boot=100)
    pd.testing.assert_frame_equal(a, probe_summary(base, tuned, seed=3, n_boot=100))
    empty = a[a["rule"] == "role_swap"]
    assert (empty["n_pairs"] == 0).all() and empty["cos_edit_delta"].isna().all()


def test_probe_summary_rejects_unpaired_tables(scored: dict[str, pd.DataFrame]) -> None:
    base, tuned = scored["blind"], scored["seeing"]
    with pytest.raises(InputError, match=r"must score the same pairs in the same order"):
        probe_summary(base, tuned.iloc[::-1])
    with pytest.raises(InputError, match="tuned has no column 'cos_edit'"):
        probe_summary(base, tuned.drop(columns="cos_edit"))
    with pytest.raises(InputError, match="n_boot must be a whole number of at least 1"):
        probe_summary(base, tuned, n_boot=0)


# --- the real model ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_real_base_model_sees_every_kind_of_edit(sample: Dataset, base_model_path: str) -> None:
    from diagnostics.models import load_model

    model = load_model(base_model_path)

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(model.encode(texts, batch_size=32, normalize_embeddings=True), dtype=np.float32)

    pairs = build_pairs(sample, per_domain=20)
    scored = score_pairs(pairs, encode)
    assert scored["cos_edit"].between(-1.0, 1.0 + 1e-6).all()
    # an edit moves the vector, a little: minimal pairs are nearer each other than unrelated sentences
    shuffled = score_pairs(pairs.assign(edited=np.roll(pairs["edited"].to_numpy(), 7)), encode)
    for rule, group in scored.groupby("rule"):
        assert (group["cos_edit"] < 1.0 - 1e-6).all(), rule  # every edit moves the vector
        assert group["cos_edit"].mean() > shuffled.loc[group.index, "cos_edit"].mean(), rule
    table = probe_summary(scored, scored, n_boot=100)
    assert (table.loc[table["n_pairs"] > 0, "cos_edit_delta"] == 0).all()
