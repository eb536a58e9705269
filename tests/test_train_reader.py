"""How benchmarks/train_reader.py builds its examples, trains, checkpoints and resumes, exports,
and combines the reader with the re-rank (reader_data, reader_heldout)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from reader_heldout import combine, exact_and_f1, measure, normalize_answer, ordered, span_threshold  # noqa: E402


def case(scores, gold_passage, sentences):
    """A question's passages (re-rank scores, which one is gold) and sentences (p, score, gold)."""
    return {
        "question": "q",
        "passages": [{"score": s, "gold": i == gold_passage} for i, s in enumerate(scores)],
        "sentences": [
            {"p": p, "text": f"s{j}", "score": score, "gold": gold} for j, (p, score, gold) in enumerate(sentences)
        ],
    }


def test_ordered_adds_the_weighted_best_logit() -> None:
    c = case([2.0, 1.0], 0, [(0, 0.0, False), (1, 0.0, True), (1, 0.0, False)])
    logits = np.array([0.0, 3.0, -1.0])
    assert ordered(c, logits, 0.0) == [0, 1]
    assert ordered(c, logits, 0.5) == [1, 0]  # 1 + 0.5 * 3 > 2 + 0.5 * 0


def test_combine_weighs_two_noisy_signals_and_beats_either_alone() -> None:
    rng = np.random.default_rng(0)
    cases, logits = [], []
    for _ in range(300):  # the re-rank score and the logit each lean towards the gold passage
        gold = int(rng.integers(4))
        scores = rng.random(4) + 0.5 * (np.arange(4) == gold)
        sentences = [(p, float(rng.random()), p == gold and k == 0) for p in range(4) for k in range(2)]
        cases.append(case(scores, gold, sentences))
        logits.append(np.array([rng.normal(1.0 if s[2] else -1.0, 1.0) for s in sentences]))
    passage_weight, sentence_weight = combine(cases, logits, answer_passages=2)
    assert passage_weight > 0
    both = measure(cases, logits, passage_weight, sentence_weight, answer_passages=2)
    score_alone = measure(cases, logits, 0.0, sentence_weight, answer_passages=2)
    logit_alone = measure(cases, logits, 1e6, sentence_weight, answer_passages=2)
    assert both[0] > max(score_alone[0], logit_alone[0])


@pytest.mark.parametrize("weight", [0.0, 2.0])
def test_measure_counts_first_passage_and_answer(weight: float) -> None:
    c = case([2.0, 1.0], 1, [(0, 0.9, False), (1, 0.1, True)])
    logits = np.array([0.0, 1.0])
    hit1, accuracy = measure([c], [logits], weight, 0.0, answer_passages=2)
    assert hit1 == (1.0 if weight == 2.0 else 0.0)  # 1 + 2 * 1 > 2 + 2 * 0
    assert accuracy == 1.0  # the best logit is the gold sentence either way


class OverlapReader:
    """A stand-in reader: the logit is the number of the question's words in the sentence."""

    def logits(self, question: str, sentences: list[str]) -> np.ndarray:
        words = set(question.lower().rstrip("?").split())
        return np.array([len(words & set(s.lower().rstrip(".").split())) for s in sentences], dtype=float)


def test_the_held_out_diagnostics_count_what_they_say() -> None:
    from reader_heldout import reader_alone

    c = case([1.0, 0.5], 0, [(0, 0.0, True), (1, 0.0, False)])
    c["question"] = "who held the second summit"
    c["sentences"][0]["text"] = "Iran held the second summit."
    c["sentences"][1]["text"] = "It rained."
    other = case([1.0], 0, [(0, 0.0, False), (0, 0.0, True)])
    other["sentences"][0]["text"], other["sentences"][1]["text"] = "q q.", "nothing."
    reader = OverlapReader()
    logits = [reader.logits(x["question"], [s["text"] for s in x["sentences"]]) for x in (c, other)]
    assert reader_alone([c, other], logits) == 0.5  # the first picks its gold sentence, the second not


def test_official_normalisation_and_f1_worked_by_hand() -> None:
    assert normalize_answer("The  Eiffel-Tower, an icon!") == "eiffeltower icon"
    assert exact_and_f1("the 4.2 million", ["4.2 million"]) == (1.0, 1.0)  # both "42 million"
    # "carried 4.2 million": 2 of 3 predicted tokens are gold (p 2/3, r 1): F1 = 2 * 2/3 / (5/3) = 0.8
    assert exact_and_f1("carried 4.2 million", ["4.2 million"]) == (0.0, pytest.approx(0.8))
    assert exact_and_f1("Paris", ["London", "paris."]) == (1.0, 1.0)  # the best gold answer counts
    assert exact_and_f1("nothing", ["London"]) == (0.0, 0.0)


def test_span_threshold_shows_spans_where_they_are_more_often_right() -> None:
    # by score: 5 (F1 1), 4 (1), 3 (0), 2 (0.8), 1 (0): running sums of F1 - 1/2: .5, 1, .5, .8, .3
    assert span_threshold([3.0, 5.0, 1.0, 4.0, 2.0], [0.0, 1.0, 0.0, 1.0, 0.8]) == 4.0
    assert span_threshold([1.0, 2.0], [0.0, 0.2]) == float("inf")  # never right: never shown


def test_entity_swap_near_miss() -> None:
    from reader_data import entities, swapped

    found = entities("In 1998 the Treaty of Lisbon moved 300 people. Then Paris won.")
    assert found["year"] == {"1998"} and found["number"] == {"300"}
    assert found["name"] == {"Treaty of Lisbon", "Paris"}  # "In", "Then": a sentence's first word
    sentence = "The Treaty of Lisbon was signed in 2007."
    pool = {"year": {"2007", "1999"}, "number": set(), "name": {"Treaty of Rome", "Treaty of Lisbon"}}
    for seed in range(5):
        near = swapped("When was the Treaty of Lisbon signed in 2007?", sentence, pool, random.Random(seed))
        assert near in ("When was the Treaty of Rome signed in 2007?", "When was the Treaty of Lisbon signed in 1999?")
    assert swapped("Who won?", sentence, pool, random.Random(0)) is None  # nothing of the sentence to swap


def test_terse_questions_are_typed_as_into_a_search_box_and_copy_only_their_own_examples() -> None:
    from reader_data import terse, terse_copies

    forms = {terse("Who heads Iran's military?", random.Random(seed)) for seed in range(20)}
    assert forms == {"who heads iran's military", "heads iran's military"}  # as typed, or keywords only
    assert {terse("Who is it?", random.Random(seed)) for seed in range(20)} == {"who is it"}  # no keyword: all stay

    examples = [
        {"q": "Who won?", "s": "Ann won.", "label": 1, "a": [0, 3], "kind": "pos"},
        {"q": "Who won?", "s": "It rained.", "label": 0, "a": None, "kind": "para"},
        {"q": "Who won?", "s": "Bo lost.", "label": 0, "a": None, "kind": "bm25"},
        {"q": "Who won in 1999?", "s": "Ann won.", "label": 0, "a": None, "kind": "swap"},
    ]
    copies = terse_copies(examples, 1.0, seed=0)
    assert [(c["kind"], c["s"], c["a"]) for c in copies] == [
        ("terse", "Ann won.", [0, 3]), ("terseneg", "It rained.", None), ("terseneg", "Bo lost.", None)
    ]  # a near miss is not copied: made terse, it may no longer be one
    assert {c["q"] for c in copies} <= {"who won", "won"}
    assert terse_copies(examples, 0.0, seed=0) == []
    assert terse_copies(examples, 1.0, seed=0) == copies  # seeded


def test_examples_give_the_answer_span_inside_the_sentence(tmp_path: Path) -> None:
    import gzip
    import json

    from reader_data import squad_train_examples

    context = "The airline grew fast. It carried 4.2 million passengers last year. Its chief is Ann Lee."
    other = "Trains carried 9 million passengers. Buses carried fewer passengers in 2020."
    qas = [{"question": "How many passengers did the airline carry?", "id": "a",
            "answers": [{"text": "4.2 million", "answer_start": context.index("4.2")}]},
           {"question": "Who is it?", "id": "b", "answers": [{"text": "grew fast. It", "answer_start": 12}]}]
    data = {"data": [{"title": "T", "paragraphs": [{"context": context, "qas": qas}, {"context": other, "qas": []}]}]}
    path = tmp_path / "train.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(data, handle)
    examples = squad_train_examples(path, 10, 0, 0.0)
    assert [e["kind"] for e in examples] == ["pos", "para", "para", "bm25", "bm25"]  # "b" crosses sentences
    positive = examples[0]
    assert positive["s"] == "It carried 4.2 million passengers last year."
    assert positive["s"][slice(*positive["a"])] == "4.2 million"
    assert {e["s"] for e in examples[1:3]} == {"The airline grew fast.", "Its chief is Ann Lee."}
    assert {e["s"] for e in examples[3:]} == {"Trains carried 9 million passengers.",
                                              "Buses carried fewer passengers in 2020."}


def test_other_articles_give_negatives_with_their_own_titles_and_tokens_find_the_answer_after_a_title(
    tmp_path: Path, model_dir: Path
) -> None:
    import gzip
    import json

    from reader_data import squad_train_examples, tokenized
    from transformers import AutoTokenizer

    context = "The airline grew fast. It carried 4.2 million passengers last year."
    qas = [{"question": "How many passengers did the airline carry?", "id": "a",
            "answers": [{"text": "4.2 million", "answer_start": context.index("4.2")}]}]
    rival = ("The rival airline carried 9 million passengers. It carried 4.2 million bags. Its staff grew."
             " Passengers ate.")
    data = {"data": [{"title": "Blue_Air", "paragraphs": [{"context": context, "qas": qas}]},
                     {"title": "Red_Air", "paragraphs": [{"context": rival, "qas": []}]}]}
    path = tmp_path / "train.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(data, handle)
    examples = squad_train_examples(path, 10, 0, 0.0, other=2)
    assert {e["t"] for e in examples if e["kind"] != "other"} == {"Blue Air"}
    others = [e for e in examples if e["kind"] == "other"]
    # the rival's sentence that holds the answer's text ("4.2 million bags") is no negative, nor one
    # that shares no word with the question ("Its staff grew.")
    assert [(e["s"], e["t"], e["label"]) for e in others] == [
        ("The rival airline carried 9 million passengers.", "Red Air", 0), ("Passengers ate.", "Red Air", 0)
    ]
    assert [e for e in squad_train_examples(path, 10, 0, 0.0) if e["kind"] == "other"] == []

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    positive = examples[0]
    plain, titled = (tokenized(tokenizer, [positive], 128, titled=flag)[0] for flag in (False, True))
    for row in (plain, titled):
        answer = tokenizer.decode(row["ids"][row["start"] : row["end"] + 1])
        assert answer == "4. 2 million"
    assert len(titled["ids"]) > len(plain["ids"]) and titled["start"] > plain["start"]
    question = "[CLS] how many passengers did the airline carry? [SEP]"
    assert tokenizer.decode(titled["ids"]).startswith(f"{question} blue air | it carried")


TINY = [
    {"q": "How many passengers did the airline carry?", "s": "It carried 4.2 million passengers last year.",
     "label": 1, "a": [11, 22], "kind": "pos"},
    {"q": "How many passengers did the airline carry?", "s": "The airline grew fast.", "label": 0, "a": None,
     "kind": "para"},
    {"q": "Who founded the bank?", "s": "The bank was founded by Ann Lee in 1901.", "label": 1, "a": [24, 31],
     "kind": "pos"},
    {"q": "Who founded the school?", "s": "The bank was founded by Ann Lee in 1901.", "label": 0, "a": None,
     "kind": "swap"},
]


def tiny_run(folder: Path, *extra: str) -> dict:
    import gzip
    import json

    from train_reader import parse_args, train

    from qa.config import settings_from_env

    if not (folder / "examples.jsonl.gz").exists():
        folder.mkdir(parents=True)
        with gzip.open(folder / "examples.jsonl.gz", "wt", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(e) + "\n" for e in TINY))
        (folder / "data.json").write_text(json.dumps({"squad_train_questions": 2, "swap_share": 0.5}))
    args = parse_args(["--run-dir", str(folder), "--batch", "1", "--steps", "3", *extra])
    return train(settings_from_env().resolved_model_dir(), folder, args)


def test_checkpoint_resume_and_export(tmp_path: Path, model_dir: Path) -> None:
    """Stopped after one step and resumed, a run ends where an unbroken one does; its checkpoint
    exports to an adapter the reader loads, whose ONNX outputs match the torch model's."""
    pytest.importorskip("peft")
    import torch
    from safetensors.numpy import load_file
    from train_reader import adapter_tensors, load_checkpoint, lora_config, reader_model, write_adapter

    from qa.search.reader import FORMAT, Reader

    whole = tiny_run(tmp_path / "whole")
    broken = tiny_run(tmp_path / "broken", "--stop-after", "0")  # stops (and checkpoints) after step 1
    assert broken["step"] == 1
    resumed = tiny_run(tmp_path / "broken", "--resume")
    assert whole["step"] == resumed["step"] == 3
    a, b = (load_file(str(tmp_path / name / "checkpoint" / "weights.safetensors")) for name in ("whole", "broken"))
    assert set(a) == set(b) and any("lora_A" in name for name in a) and "span.weight" in a
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-6, err_msg=name)

    model = reader_model(model_dir)
    load_checkpoint(tmp_path / "whole", model)
    model.eval()
    adapter = tmp_path / "reader.safetensors"
    combine = {"passages": 5, "passage_weight": 1.0, "sentence_weight": 3.0}
    write_adapter(adapter, adapter_tensors(model), {
        "reader": FORMAT, "scale": str(lora_config()["lora_alpha"] / lora_config()["r"]),
        "combine": json_dumps(combine),
        "span": json_dumps({"threshold": -100.0}),
    })
    reader = Reader(model_dir, tmp_path / "cache", adapter, threads=1)
    pairs = [(e["q"], e["s"]) for e in TINY[:3]]
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    encoded = tokenizer([p[0] for p in pairs], [p[1] for p in pairs], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits, starts, ends = model(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
    for (question, text), logit in zip(pairs, logits):
        got, spans = reader.read(question, [text])  # the int8 export: close, not equal
        assert got[0] == pytest.approx(float(logit), abs=0.25)
        assert spans[0] is not None and 0 <= spans[0][0] < spans[0][1] <= len(text)
    onnx_logits, onnx_starts, onnx_ends = reader.session.run(None, {
        "input_ids": encoded["input_ids"].numpy(), "attention_mask": encoded["attention_mask"].numpy(),
        "token_type_ids": encoded["token_type_ids"].numpy(),
    })
    assert onnx_starts.shape == onnx_ends.shape == tuple(encoded["input_ids"].shape)
    mask = encoded["attention_mask"].numpy() == 1
    np.testing.assert_allclose(onnx_starts[mask], starts.numpy()[mask], atol=0.3)
    np.testing.assert_allclose(onnx_ends[mask], ends.numpy()[mask], atol=0.3)


def test_an_adapter_of_lower_rank_starts_a_higher_one_where_it_was(tmp_path: Path, model_dir: Path) -> None:
    """--rank 16 --init (a rank-8 adapter): the first 8 ranks are the adapter's, the others add
    nothing yet, so the model reads as the adapter did; then training can use all 16."""
    pytest.importorskip("peft")
    import torch
    from train_reader import adapter_tensors, reader_model, start_from, trainable, write_adapter

    torch.manual_seed(0)
    low = reader_model(model_dir, 8)
    with torch.no_grad():  # a trained adapter: B is no longer zero
        for parameter in trainable(low).values():
            parameter.add_(0.05 * torch.randn_like(parameter))
    adapter = tmp_path / "low.safetensors"
    write_adapter(adapter, adapter_tensors(low), {})
    high = reader_model(model_dir, 16)
    start_from(high, adapter)
    tensors = adapter_tensors(high)
    assert {a.shape[0] for name, a in tensors.items() if name.endswith(".lora_A")} == {16}
    from transformers import AutoTokenizer

    encoded = AutoTokenizer.from_pretrained(str(model_dir))(
        [e["q"] for e in TINY[:2]], [e["s"] for e in TINY[:2]], padding=True, return_tensors="pt"
    )
    low.eval(), high.eval()
    with torch.no_grad():
        before = low(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
        after = high(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
    for a, b in zip(before, after):  # the adapter went through float16 on disk
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=0.05)


def test_a_run_of_another_rank_resumes_at_its_own_rank(tmp_path: Path) -> None:
    pytest.importorskip("peft")
    from safetensors.numpy import load_file

    run = tmp_path / "run"
    assert tiny_run(run, "--rank", "4", "--stop-after", "0")["step"] == 1
    assert tiny_run(run, "--resume")["step"] == 3  # no --rank: the checkpoint's
    weights = load_file(str(run / "checkpoint" / "weights.safetensors"))
    assert {a.shape[0] for name, a in weights.items() if "lora_A" in name} == {4}


def json_dumps(value) -> str:
    import json

    return json.dumps(value)


def test_rewritten_questions_give_their_sentence_with_the_span_and_near_misses_give_only_negatives() -> None:
    from reader_data import ArticleBM25
    from rewritten_examples import QUESTIONS, examples_for, read_questions

    paragraphs = [
        "The club was founded in 1886. It moved to Highbury in 1913. Its colours are red and white.",
        "Arsenal won the league in 1931. The stadium holds 60,000 people.",
    ]
    bm25 = ArticleBM25(paragraphs)
    rng = random.Random(0)
    asked = {"paragraph": 0, "question": "Which ground did the Gunners go to before the First World War?",
             "answer": "Highbury"}
    rows = examples_for(asked, paragraphs, bm25, "Arsenal F.C.", rng)
    (positive,) = [row for row in rows if row["label"] == 1]
    assert positive["s"] == "It moved to Highbury in 1913."
    assert positive["s"][slice(*positive["a"])] == "Highbury" and positive["kind"] == "rwpos"
    assert all("Highbury" not in row["s"] for row in rows if row["label"] == 0)
    assert {row["kind"] for row in rows} == {"rwpos", "rwpara", "rwbm25"}
    assert all(row["t"] == "Arsenal F.C." for row in rows)

    near_miss = {**asked, "question": "How much did the move to Highbury cost?", "answer": None}
    rows = examples_for(near_miss, paragraphs, bm25, "Arsenal F.C.", rng)
    assert len(rows) == 3 and {(row["label"], row["kind"]) for row in rows} == {(0, "rwnoans")}
    # an answer no single sentence holds gives nothing rather than a wrong sentence
    assert examples_for({**asked, "answer": "1913. Its"}, paragraphs, bm25, "Arsenal F.C.", rng) == []

    committed = read_questions(QUESTIONS)  # the committed set: six questions a paragraph, one near miss
    assert len(committed) == 5760 and sum(q["answer"] is None for q in committed) == 960
    assert len({q["id"] for q in committed}) == len(committed)


def test_the_seeded_draw_gives_the_paragraphs_the_questions_were_written_over() -> None:
    from draw_rewritten_paragraphs import main
    from reader_data import SQUAD_TRAIN

    if not SQUAD_TRAIN.is_file():
        pytest.skip("the shared SQuAD v1.0 train set is not present")
    assert main(["--check"]) == 0


def test_written_calibration_questions_ask_an_article_made_of_their_paragraph_and_its_neighbours() -> None:
    from reader_data import SQUAD_TRAIN

    if not SQUAD_TRAIN.is_file():
        pytest.skip("the shared SQuAD v1.0 train set is not present")
    from calibrate_abstention import written_calibration
    from rewritten_examples import QUESTIONS, read_questions

    corpus, questions = written_calibration(QUESTIONS, 1440, 1440)  # the second round, kept out of training
    rows = {row["id"]: row for row in read_questions(QUESTIONS)[1440:2880]}
    assert [q.id for q, _ in questions] == list(rows)
    assert len(corpus.articles) == 240 and sum(answerable for _, answerable in questions) == 1200
    by_id = {article.id: article for article in corpus.articles}
    for question, answerable in questions:
        row = rows[question.id]
        article = by_id[f"{row['article']}#{row['paragraph']}"]
        assert answerable == (row["answer"] is not None)
        assert not answerable or row["answer"] in article.text
        assert question.question == row["question"] and article.title == row["article"].replace("_", " ")
