r"""The compositional probe: minimal pairs made from the user's own corpus and queries.

Why one module past ~500 lines: each edit rule is a word list plus the context checks that keep its edit
grammatical; they are read and changed together, next to the pair builder that applies them.

"The Fine-Tuning Trap" (Ralev et al. 2026) trained embedding models for compositional sensitivity
(negation, who did what to whom, word order, spatial relations) and measured what it cost zero-shot
retrieval. This probe measures the sensitivity side on the user's data, no external data needed: a sentence
of a document or a query that a rule of :data:`EDIT_RULES` can edit gives a *minimal pair* (the sentence
and its edit). Each rule fires only where its pattern is unambiguous and its edit grammatical by
construction (``docs/PROBE.md`` documents every rule and its failure cases).

With unit vectors :math:`o, e, c` of the original, the edit and the context (the rest of the document, or a
judged relevant document of the query), per pair and model: ``cos_edit`` :math:`= o \cdot e` (lower is more
sensitive) and ``prefers_original`` :math:`= [c \cdot o > c \cdot e]` (higher share is better).
:func:`probe_summary` compares two models with the paired statistics of :mod:`diagnostics.statistics`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from diagnostics._validation import InputError, check_seed, check_whole
from diagnostics.dataset import Dataset
from diagnostics.known_item import MIN_WORDS, _draw_order, _leaks, _norm, _seed, _sentences
from diagnostics.statistics import OVERALL, paired_bootstrap_ci, paired_comparison

__all__ = ["EDIT_RULES", "split_sentences", "edit_sentence", "build_pairs", "score_pairs", "probe_summary"]

#: The edit rules, in the order they are tried and reported.
EDIT_RULES: tuple[str, ...] = ("negation", "role_swap", "word_order", "relation")
#: The ``rule`` label of the all-rules rows of :func:`probe_summary`.
ALL_RULES = "all"
#: Sources examined per domain at most while filling the quotas (bounds the time on large corpora).
MAX_SOURCES_PER_DOMAIN = 20_000
#: Longest sentence edited (words): longer ones are rarely simple clauses.
MAX_SENTENCE_WORDS = 60

PAIR_COLUMNS = ("pair_id", "domain", "source_kind", "source_id", "rule", "original", "edited", "context")

# --- word lists ----------------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _list(text: str) -> list[str]:
    return text.split()


# A word (letters or digits, with inner apostrophes, hyphens and decimal marks: "don't", "X-ray", "3.6") or
# one other character.
_WORD = re.compile(r"[^\W_]+(?:(?:['’-]|(?<=\d)[.,](?=\d))[^\W_]+)*|[^\s\w]|_")
_DETERMINERS = _words("the a an this that these those each every its their his her our my your")
_SUBJECT_PRONOUNS = _words("i you he she it we they")
_PRONOUNS = _SUBJECT_PRONOUNS | _words("me him us them who whom whose which what there")
_PREPOSITIONS = _words("in on at with for during after before by from to into onto within without across "
                       "through between among against toward towards under over above below near via per "
                       "than as like about upon")
_CONJUNCTIONS = _words("and or but nor so yet because while when where if although though whereas")
_WH = _words("what which who whom whose why how when where")
_MODALS = _words("can could will would should must may might shall")
_DO, _HAVE = _words("do does did"), _words("has have had")
_COPULAS = _words("is are was were am")
_AUXILIARIES = _COPULAS | _MODALS | _DO | _HAVE
_CONTRACTIONS = {f"{aux}n't": aux for aux in _words("is are was were could would should must does did has have had")}
_CONTRACTIONS |= {"don't": "do", "can't": "can", "won't": "will", "shan't": "shall", "cannot": "can"}
_NEGATIONS = _words("not no never nor neither none nobody nothing nowhere cannot")
#: Negative-polarity words: a sentence with one of them keeps its negation ("have not taken it yet").
_POLARITY = _words("yet any anything anyone anybody anymore anywhere ever either")
_PARTICIPLES = _words("been done gone seen shown known given taken made found become begun brought built caught "
                      "chosen come drawn driven fallen felt grown held kept led left lost met paid put read run said "
                      "sent set spent struck thought told understood written bound broken spoken proven risen worn")
_FUNCTION = _DETERMINERS | _PRONOUNS | _PREPOSITIONS | _CONJUNCTIONS | _AUXILIARIES | _NEGATIONS | _words(
    "of to be being not little much many more most less least few fewer so too well very also only just")
_STRONG_END = frozenset(".,;:!?)")  # punctuation that closes a phrase (not "°", "%", "&", "/")

# role_swap's transitive verbs: stem, 3rd person singular, past ("|" between verbs).
_VERBS = [_list(forms) for forms in """activate activates activated|affect affects affected|alter alters altered
bind binds bound|block blocks blocked|catch catches caught|cause causes caused|chase chases chased
cleave cleaves cleaved|contain contains contained|control controls controlled|damage damages damaged
detect detects detected|encode encodes encoded|examine examines examined|follow follows followed
hire hires hired|identify identifies identified|inhibit inhibits inhibited|kill kills killed
modify modifies modified|outperform outperforms outperformed|precede precedes preceded
produce produces produced|protect protects protected|recognise recognises recognised|reduce reduces reduced
regulate regulates regulated|replace replaces replaced|stimulate stimulates stimulated
support supports supported|target targets targeted|treat treats treated|trigger triggers triggered
visit visits visited|attack attacks attacked|interview interviews interviewed|teach teaches taught
accept accepts accepted|approve approves approved|check checks checked|cover covers covered|exceed exceeds exceeded
include includes included|measure measures measured|monitor monitors monitored|need needs needed
pay pays paid|receive receives received|reject rejects rejected|require requires required|review reviews reviewed
sign signs signed|use uses used|verify verifies verified|manage manages managed|meet meets met|see sees saw
find finds found|build builds built|hold holds held|lead leads led|send sends sent|buy buys bought
sell sells sold|own owns owned|hit hits hit|reach reaches reached|enter enters entered|join joins joined""".replace(
    "\n", "|").split("|")]
_STEMS = frozenset(v[0] for v in _VERBS)
_PRESENT = frozenset(v[1] for v in _VERBS)
_PAST = frozenset(v[2] for v in _VERBS)

# relation: antonym pairs (a word maps to the other word of the first pair naming it: "lower" -> "higher").
_ANTONYM_PAIRS = [pair.split("/") for pair in _list(
    "above/below before/after inside/outside left/right over/under increase/decrease increases/decreases "
    "increased/decreased increasing/decreasing higher/lower highest/lowest more/less most/least first/last "
    "upstream/downstream earlier/later maximum/minimum larger/smaller largest/smallest longer/shorter "
    "faster/slower stronger/weaker internal/external input/output north/south east/west top/bottom "
    "anterior/posterior proximal/distal ascending/descending upper/lower")]
_ANTONYM: dict[str, str] = {}
for _a, _b in _ANTONYM_PAIRS:
    _ANTONYM.setdefault(_a, _b)
    _ANTONYM.setdefault(_b, _a)
#: Nouns after which "over the"/"under the" is spatial: the only place those two are swapped.
_SPATIAL_NOUNS = _words("table desk bench floor roof ceiling bridge door window bed surface skin water sink road "
                        "river wall chair arm head tongue sheet lid cover layer")
#: First parts of "X-to-Y" compounds that are not two ordered nouns ("return-to-work", "ready-to-use").
_NOT_ORDERED = _words("return permit ready easy hard made back face right left up next day end work")


# --- tokens --------------------------------------------------------------------------------------------


class _Tokens:
    """A sentence as tokens with their character spans, for edits that keep everything else as it was."""

    def __init__(self, sentence: str) -> None:
        self.text = sentence
        matches = list(_WORD.finditer(sentence))
        self.words = [m.group() for m in matches]
        self.lower = [w.lower().replace("’", "'") for w in self.words]
        self.spans = [m.span() for m in matches]

    def at(self, i: int) -> str:
        """The lower-case token at ``i``; "" outside the sentence."""
        return self.lower[i] if 0 <= i < len(self.lower) else ""

    def is_word(self, i: int) -> bool:
        return self.at(i)[:1].isalnum()

    def content(self, i: int) -> bool:
        """A word that can sit inside a noun phrase: not a function word, an -ly adverb or a contraction."""
        w = self.at(i)
        return self.is_word(i) and w not in _FUNCTION and not w.endswith("ly") and "'" not in w

    def closes(self, i: int) -> bool:
        """Token ``i`` ends a phrase: the end of the sentence or closing punctuation."""
        return i >= len(self.words) or self.words[i] in _STRONG_END

    def replace(self, edits: Iterable[tuple[int, int, str]]) -> str:
        """The sentence with the token ranges ``[i, j)`` replaced by text (ranges must not overlap)."""
        out, last = [], 0
        for i, j, new in sorted(edits):
            out += [self.text[last : self.spans[i][0]], new]
            last = self.spans[j - 1][1]
        return "".join([*out, self.text[last:]])

    def source(self, i: int, j: int) -> str:
        return self.text[self.spans[i][0] : self.spans[j - 1][1]]


def _match_case(word: str, like: str) -> str:
    """``word`` in the case pattern of ``like``: UPPER, Capitalised or as given."""
    if like.isupper() and len(like) > 1:
        return word.upper()
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _capitalise(text: str, *, upper: bool = True) -> str:
    return (text[:1].upper() if upper else text[:1].lower()) + text[1:]


# --- negation ------------------------------------------------------------------------------------------


def _negation(t: _Tokens) -> str | None:
    """Remove the one negation of a sentence when it sits on an auxiliary, else insert "not" after the first
    auxiliary that can take it."""
    marks = [i for i, w in enumerate(t.lower) if w in _NEGATIONS or w.endswith("n't")]
    if len(marks) > 1:
        return None
    if marks:
        i = marks[0]
        if _POLARITY & set(t.lower):
            return None
        if t.lower[i] in _CONTRACTIONS:
            return t.replace([(i, i + 1, _match_case(_CONTRACTIONS[t.lower[i]], t.words[i]))])
        if t.lower[i] == "not" and t.at(i - 1) in _AUXILIARIES and t.is_word(i + 1):
            return t.replace([(i - 1, i + 1, t.words[i - 1])])
        return None  # "no", "never", "not only", "ain't": not removable by this rule
    question = t.text.endswith("?") or t.at(0) in _WH | _AUXILIARIES
    for i, word in enumerate(t.lower):
        if word not in _AUXILIARIES or i == 0 or not t.words[i].islower():
            continue  # a sentence-initial auxiliary inverts (question, imperative); "May", "Will" are names
        before, after = t.at(i - 1), t.at(i + 1)
        if before in _DETERMINERS or before == "to" or (word == "am" and before != "i"):
            return None  # "a can of", "the will", "to have", "2 am": not a finite auxiliary
        inverted = after in _SUBJECT_PRONOUNS | {"there"} or (after in _DETERMINERS and word not in _COPULAS)
        if inverted or (question and (after in _DETERMINERS or any(w in _WH for w in t.lower[:i]))):
            return None  # subject-auxiliary inversion: "can I ...", "is there ...", "can the customer ..."
        if not t.is_word(i + 1) and not t.closes(i + 1):
            return None
        if word in _HAVE and not (after.endswith("ed") or after in _PARTICIPLES):
            return None  # "has a nucleus": a main verb; "has not a nucleus" is not modern English
        if word in _DO and (after in _FUNCTION or after.endswith(("ly", "ing", "ed")) or not t.is_word(i + 1)):
            return None  # "did the work", "does so": a main verb, or not followed by a bare verb
        return t.replace([(i, i + 1, "cannot" if word == "can" else f"{t.words[i]} not")])
    return None


# --- role swap -----------------------------------------------------------------------------------------


def _noun_phrase(t: _Tokens, start: int) -> int | None:
    """End (exclusive) of the noun phrase at ``start``: a determiner and 1-4 content words, or one content
    word alone; None when there is none."""
    if t.at(start) in _DETERMINERS:
        end = start + 1
        while t.content(end):
            end += 1
        return end if 1 < end - start <= 5 else None
    return start + 1 if t.content(start) and not t.content(start + 1) else None


def _singular(t: _Tokens, start: int, end: int) -> bool:
    head = t.at(end - 1)
    return t.at(start) not in ("these", "those") and not (head.endswith("s") and not head.endswith(("ss", "us", "is")))


def _role_swap(t: _Tokens) -> str | None:
    """Swap subject and object of "DET ADJ* NOUN VERB (DET ADJ*)? NOUN" at the start of a sentence."""
    if t.at(0) not in _DETERMINERS:
        return None
    for verb_at in range(2, min(6, len(t.words))):
        if not t.content(verb_at - 1):
            return None
        if t.at(verb_at) in _PRESENT | _PAST | _STEMS:
            edited = _swap_roles(t, verb_at)
            if edited is not None:
                return edited
    return None


def _swap_roles(t: _Tokens, verb_at: int) -> str | None:
    verb, start = t.at(verb_at), verb_at + 1
    end = _noun_phrase(t, start)
    if end is None:
        return None
    bare = t.at(start) not in _DETERMINERS
    if not (t.closes(end) or (t.at(end) in _PREPOSITIONS - {"of"} | (set() if bare else _CONJUNCTIONS))):
        return None  # the object goes on ("the head of the ...", "system and radio logs", "'s"): unclear end
    number = _singular(t, 0, verb_at), _singular(t, start, end)
    if (verb in _PRESENT and number != (True, True)) or (verb in _STEMS - _PAST and number != (False, False)):
        return None  # the verb agrees with its subject: "-s" needs two singular phrases, the stem two plural
    subject, obj = t.source(0, verb_at), t.source(start, end)
    if subject.lower() == obj.lower():
        return None
    moved = subject if t.words[0].isupper() and len(t.words[0]) > 1 else _capitalise(subject, upper=False)
    return t.replace([(0, verb_at, _capitalise(obj)), (start, end, moved)])


# --- word order ----------------------------------------------------------------------------------------

_HYPHEN_TO = re.compile(r"(?<![\w-])([A-Za-z]+)-to-([A-Za-z]+)(?![\w-])")
_INFIX = (("followed", "by"), ("rather", "than"), ("instead", "of"))  # "X followed by Y" -> "Y followed by X"
_FRAMES = (("from", ("to", "into")), ("of", ("to",)))  # "from X to Y", "ratio|proportion of X to Y"


def _operand_left(t: _Tokens, end: int) -> int | None:
    """Start of the operand ending (exclusive) at ``end``: a determiner and 1-3 content words, or 1-3 content
    words after a function word or punctuation; None when unclear."""
    start = end
    while t.content(start - 1) and end - start < 3:
        start -= 1
    if start == end or (start > 0 and t.content(start - 1)):
        return None
    return start - 1 if t.at(start - 1) in _DETERMINERS else start


def _operand_right(t: _Tokens, start: int, *, closers: frozenset[str]) -> int | None:
    """End (exclusive) of the operand at ``start`` (as :func:`_operand_left`), followed by closing punctuation,
    one of ``closers`` or, after a determiner-led operand, any function word."""
    led = t.at(start) in _DETERMINERS
    end = start + led
    while t.content(end) and end - start - led < 3:
        end += 1
    if end == start + led or t.content(end) or t.at(end) == "'":
        return None
    ok = t.closes(end) or t.at(end) in closers or (led and t.at(end) in _FUNCTION)
    return end if ok else None


def _swap_operands(t: _Tokens, a: int, b: int, c: int, d: int) -> str | None:
    def shape(i: int, j: int) -> tuple[bool, int, bool]:
        led = t.at(i) in _DETERMINERS
        return led, j - i - led, t.at(i + led)[:1].isdigit()

    if shape(a, b) != shape(c, d) or t.at(c) in _STEMS:
        return None  # operands of different shapes, or "to" + a bare verb: likely not two noun phrases
    x, y = t.source(a, b), t.source(c, d)
    if x.lower() == y.lower():
        return None
    if a == 0:
        if t.at(0) not in _DETERMINERS:
            return None  # a capitalised first word may be a name: its case cannot be decided
        x, y = _capitalise(x, upper=False), _capitalise(y)
    return t.replace([(a, b, y), (c, d, x)])


def _word_order(t: _Tokens) -> str | None:
    """Swap the operands of the first ordered construction (the pattern set is in ``docs/PROBE.md``)."""
    for match in _HYPHEN_TO.finditer(t.text):
        x, y = match.group(1), match.group(2)
        if x.lower() != y.lower() and x.lower() not in _NOT_ORDERED and not x.lower().endswith(("ed", "ing")):
            swapped = f"{_match_case(y.lower(), x)}-to-{_match_case(x.lower(), y)}"
            return t.text[: match.start()] + swapped + t.text[match.end() :]
    aux = _AUXILIARIES  # a bare operand ends before an auxiliary or punctuation; "60 equates to" does not end
    for i in range(len(t.words) - 1):
        for first, second in _INFIX:
            if t.lower[i] == first and t.lower[i + 1] == second:
                a, d = _operand_left(t, i), _operand_right(t, i + 2, closers=aux)
                return None if a is None or d is None else _swap_operands(t, a, i, i + 2, d)
        for opener, closers in _FRAMES:
            if t.lower[i] != opener or (opener == "of" and t.at(i - 1) not in ("ratio", "proportion")):
                continue
            b = _operand_right(t, i + 1, closers=frozenset(closers))
            if b is not None and t.at(b) in closers:
                d = _operand_right(t, b + 1, closers=aux)
                if d is not None:
                    return _swap_operands(t, i + 1, b, b + 1, d)
    return None


# --- relation ------------------------------------------------------------------------------------------


def _relation_ok(t: _Tokens, i: int) -> bool:
    """Context checks of the ambiguous antonyms (each is documented in ``docs/PROBE.md``)."""
    word, before, after = t.at(i), t.at(i - 1), t.at(i + 1)
    if "-" in (before, after) or _ANTONYM[word] in t.lower[max(0, i - 3) : i + 4]:
        return False  # "left-handed", "first-order"; "before and after", "above or below"
    if word in ("left", "right", "top", "bottom"):
        return before == "the" and after != "to"  # "the left ventricle"; not "she left", "the right to"
    if word in ("over", "under"):
        return after == "the" and t.at(i + 2) in _SPATIAL_NOUNS  # not "under the scheme", "over the past year"
    if word in ("more", "less", "lower"):
        return after == "than"  # "more samples" -> "less samples" is not standard English; "lower back"
    if word in ("most", "least"):
        return before in ("the", "at")
    if word in ("first", "last"):
        return before in _DETERMINERS  # "at first", "at last" are idioms
    if word in ("before", "after", "above", "below", "inside", "outside"):
        return before != "as" and t.is_word(i + 1) and after not in _CONJUNCTIONS  # "as before", "seen before."
    return True


def _relation(t: _Tokens) -> str | None:
    """Swap the first relational word for its antonym, keeping its case and fixing "a"/"an" before it."""
    for i, word in enumerate(t.lower):
        if word in _ANTONYM and _relation_ok(t, i):
            new = _ANTONYM[word]
            edits = [(i, i + 1, _match_case(new, t.words[i]))]
            if t.at(i - 1) in ("a", "an"):
                edits.append((i - 1, i, _match_case("an" if new[0] in "aeiou" else "a", t.words[i - 1])))
            return t.replace(edits)
    return None


_RULES: dict[str, Callable[[_Tokens], str | None]] = {
    "negation": _negation, "role_swap": _role_swap, "word_order": _word_order, "relation": _relation,
}


def split_sentences(text: str) -> list[str]:
    """Split a text into sentences: after ``.``, ``!`` or ``?`` followed by white space.

    The splitter of the known-item checks (:mod:`diagnostics.known_item`), so that the probe's document
    sentences and its contexts are cut the same way. Deterministic and rule-based: abbreviations such
    as "e.g. x" are split too (a documented limit).

    >>> split_sentences("The cell divides. It grows!  Why?")
    ['The cell divides.', 'It grows!', 'Why?']
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a string; got {type(text).__name__}")
    return _sentences(text)


def edit_sentence(sentence: str) -> dict[str, str]:
    """The edits of one sentence by every rule whose pattern matches it.

    Parameters
    ----------
    sentence : str
        One sentence (see :func:`split_sentences`).

    Returns
    -------
    dict of str to str
        Rule (of :data:`EDIT_RULES`, in that order) -> edited sentence, only for the rules that fire;
        never the sentence itself. Empty when no rule applies.

    Examples
    --------
    >>> edit_sentence("The nurse examined the patient.")["role_swap"]
    'The patient examined the nurse.'
    >>> edit_sentence("The valve is above the pump.")
    {'negation': 'The valve is not above the pump.', 'relation': 'The valve is below the pump.'}
    """
    if not isinstance(sentence, str):
        raise InputError(f"sentence must be a string; got {type(sentence).__name__}")
    return _edit(sentence, EDIT_RULES)


def _edit(sentence: str, rules: Iterable[str]) -> dict[str, str]:
    tokens = _Tokens(sentence.strip())
    if not tokens.words or len(tokens.words) > 2 * MAX_SENTENCE_WORDS:
        return {}
    out: dict[str, str] = {}
    for rule in rules:
        edited = _RULES[rule](tokens)
        if edited is not None and edited != tokens.text:
            out[rule] = edited
    return out


# --- pairs ---------------------------------------------------------------------------------------------


def _quotas(per_domain: int) -> dict[str, int]:
    """Pairs per rule in one domain: ``per_domain`` split evenly, the remainder to the first rules."""
    share, extra = divmod(per_domain, len(EDIT_RULES))
    return {rule: share + (k < extra) for k, rule in enumerate(EDIT_RULES)}


def _interleave(first: list[int], second: list[int]) -> Iterator[tuple[int, int]]:
    """(stream, item) alternately from two streams, then the rest of the longer one."""
    for k in range(max(len(first), len(second))):
        if k < len(first):
            yield 0, first[k]
        if k < len(second):
            yield 1, second[k]


def build_pairs(dataset: Dataset, *, per_domain: int = 200, seed: int = 0) -> pd.DataFrame:
    """Minimal pairs from each domain's document sentences and queries, stratified over domains and rules.

    Parameters
    ----------
    dataset : Dataset
        Documents (``id``, ``title``, ``text``, ``domain``), queries and judgements. A query is a source
        only when it has a judged relevant document (score > 0).
    per_domain : int, default 200
        Pairs per domain, split evenly over :data:`EDIT_RULES` (the remainder to the first rules); a rule
        that fires on fewer sources gives fewer pairs — nothing is moved to another rule. 0 builds none.
    seed : int, default 0
        Seed of the draw. Sources of a domain are examined in an order given by a seeded hash of their
        ids (queries and documents alternately, as :mod:`diagnostics.known_item` orders documents), each
        source's sentences in a seeded order keyed by its id; each source gives at most one pair per rule.

    Returns
    -------
    pandas.DataFrame
        Columns ``pair_id`` (``"<rule>:<doc|query>:<source_id>"``), ``domain``, ``source_kind``
        (``"doc"`` or ``"query"``), ``source_id``, ``rule``, ``original``, ``edited`` and ``context``:
        for a document sentence the rest of the document (its title kept unless it overlaps the sentence,
        as in the inverse-cloze known-item checks), for a query sentence one of the query's judged
        relevant documents (a seeded choice). Pairs with an empty context, or whose sentence is repeated
        in its context, are skipped. Rows by domain (:attr:`Dataset.domains` order), then rule, then draw.
        At most :data:`MAX_SOURCES_PER_DOMAIN` sources are examined per domain.
    """
    if not isinstance(dataset, Dataset):
        raise InputError(f"dataset must be a diagnostics Dataset (from load_dataset); got {type(dataset).__name__}")
    per_domain = check_whole(per_domain, name="probe per_domain", low=0)
    seed = check_seed(seed, name="probe seed")
    docs, queries = dataset.docs, dataset.queries
    doc_ids, query_ids = docs["id"].astype(str).tolist(), queries["id"].astype(str).tolist()
    titles = docs["title"].fillna("").astype(str).str.strip().tolist()
    texts, query_texts = docs["text"].fillna("").astype(str).tolist(), queries["text"].fillna("").astype(str).tolist()
    row_of = {doc_id: row for row, doc_id in enumerate(doc_ids)}
    relevant: dict[str, list[int]] = {}
    positive = dataset.qrels[dataset.qrels["score"] > 0]
    for query_id, doc_id in zip(positive["query_id"].astype(str), positive["doc_id"].astype(str), strict=True):
        if doc_id in row_of:
            relevant.setdefault(query_id, []).append(row_of[doc_id])

    def doc_candidates(row: int) -> Iterator[tuple[str, str]]:
        sentences = split_sentences(texts[row])
        rng = np.random.default_rng(_seed(seed, f"probe:doc:{doc_ids[row]}"))
        for i in rng.permutation(len(sentences)).tolist():
            held, title = _norm(sentences[i]), _norm(titles[row])
            rest = " ".join(sentences[:i] + sentences[i + 1 :])
            keep_title = bool(title) and title not in held and held not in title  # as the known-item passages
            yield sentences[i], f"{titles[row]} {rest}".strip() if keep_title else rest

    def query_candidates(row: int) -> Iterator[tuple[str, str]]:
        rows = relevant[query_ids[row]]
        chosen = rows[int(np.random.default_rng(_seed(seed, f"probe:query:{query_ids[row]}")).integers(len(rows)))]
        context = f"{titles[chosen]} {texts[chosen]}".strip()
        return ((sentence, context) for sentence in split_sentences(query_texts[row]))

    in_domain: dict[tuple[int, str], list[int]] = {}
    for stream, frame in enumerate((queries, docs)):
        for row, domain in enumerate(frame["domain"].astype(str)):
            in_domain.setdefault((stream, domain), []).append(row)
    records: list[dict[str, str]] = []
    for domain in dataset.domains:
        quotas = _quotas(per_domain)
        taken: dict[str, list[dict[str, str]]] = {rule: [] for rule in EDIT_RULES}
        q_rows = [r for r in in_domain.get((0, domain), []) if query_ids[r] in relevant]
        d_rows = in_domain.get((1, domain), [])
        q_order = [q_rows[k] for k in _draw_order(seed, [query_ids[r] for r in q_rows]).tolist()]
        d_order = [d_rows[k] for k in _draw_order(seed, [doc_ids[r] for r in d_rows]).tolist()]
        for n_examined, (stream, row) in enumerate(_interleave(q_order, d_order)):
            needed = [rule for rule in EDIT_RULES if len(taken[rule]) < quotas[rule]]
            if not needed or n_examined >= MAX_SOURCES_PER_DOMAIN:
                break
            kind, source_id = ("query", query_ids[row]) if stream == 0 else ("doc", doc_ids[row])
            fewest = 3 if stream == 0 else MIN_WORDS  # queries are short; document sentences as the known items
            for sentence, context in query_candidates(row) if stream == 0 else doc_candidates(row):
                if not needed:
                    break
                if not fewest <= len(sentence.split()) <= MAX_SENTENCE_WORDS or not _norm(context) \
                        or _leaks(sentence, context):
                    continue
                for rule, edited in _edit(sentence, needed).items():
                    needed.remove(rule)
                    taken[rule].append({"pair_id": f"{rule}:{kind}:{source_id}", "domain": domain,
                                        "source_kind": kind, "source_id": source_id, "rule": rule,
                                        "original": sentence, "edited": edited, "context": context})
        records.extend(record for rule in EDIT_RULES for record in taken[rule])
    return pd.DataFrame.from_records(records, columns=list(PAIR_COLUMNS))


# --- scores --------------------------------------------------------------------------------------------


def _check_columns(frame: object, columns: Iterable[str], *, name: str, hint: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{name} must be a pandas DataFrame ({hint}); got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{name} has no column {missing[0]!r} ({hint}); its columns are {list(frame.columns)}")
    return frame


def score_pairs(pairs: pd.DataFrame, encode: Callable[[list[str]], NDArray[np.float32]]) -> pd.DataFrame:
    r"""Score minimal pairs with one model.

    Parameters
    ----------
    pairs : pandas.DataFrame
        As from :func:`build_pairs` (needs ``original``, ``edited`` and ``context``).
    encode : callable
        ``encode(texts) -> ndarray of shape (len(texts), dim)``: the model. Every distinct text is encoded
        once, in one call; rows are L2-normalised here, so unnormalised encoders give cosines too.

    Returns
    -------
    pandas.DataFrame
        ``pairs`` plus ``cos_edit`` :math:`= o \cdot e` (float64) and ``prefers_original``
        :math:`= c \cdot o > c \cdot e` (bool; a tie counts as not preferring), with :math:`o, e, c` the
        unit vectors of the original, the edit and the context.
    """
    pairs = _check_columns(pairs, ("original", "edited", "context"), name="pairs", hint="the output of build_pairs")
    if not callable(encode):
        raise InputError(f"encode must be a function from a list of texts to an array; got {type(encode).__name__}")
    columns = [pairs[c].astype(str).tolist() for c in ("original", "edited", "context")]
    texts = list(dict.fromkeys(t for column in columns for t in column))
    if not texts:
        return pairs.assign(cos_edit=pd.Series(dtype=np.float64), prefers_original=pd.Series(dtype=bool))
    vectors = np.asarray(encode(texts), dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] != len(texts):
        raise InputError(f"encode returned an array of shape {vectors.shape} for {len(texts)} texts; "
                         "it must return one row per text")
    if not np.isfinite(vectors).all():
        raise InputError("encode returned non-finite values (NaN or inf); check the model")
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = vectors / np.where(norms > 0, norms, 1.0)
    index = {t: i for i, t in enumerate(texts)}
    o, e, c = (vectors[[index[t] for t in column]] for column in columns)
    cos_edit = np.einsum("ij,ij->i", o, e)
    prefers = np.einsum("ij,ij->i", c, o) > np.einsum("ij,ij->i", c, e)
    return pairs.assign(cos_edit=cos_edit, prefers_original=prefers)


_METRICS = ("cos_edit", "prefers_original")
_STATS = ("base", "base_ci_low", "base_ci_high", "tuned", "tuned_ci_low", "tuned_ci_high", "delta", "ci_low",
          "ci_high", "p_value")


def probe_summary(
    base: pd.DataFrame, tuned: pd.DataFrame, *, seed: int = 0, n_boot: int = 1000, confidence: float = 0.95
) -> pd.DataFrame:
    """Per domain and rule: both models' mean ``cos_edit`` and share ``prefers_original``, Δ and CIs.

    Parameters
    ----------
    base, tuned : pandas.DataFrame
        :func:`score_pairs` of the same pairs (same ``pair_id`` in the same order) with each model.
    seed : int, default 0
        Seed of every bootstrap and sign-flip test (the same for every cell: the table is reproducible).
    n_boot : int, default 1000
        Bootstrap resamples (and sign-flip permutations).
    confidence : float, default 0.95

    Returns
    -------
    pandas.DataFrame
        One row per (``domain``, ``rule``) — every domain of ``base`` (sorted) and then ``"overall"`` (all
        pairs), each with the rules of :data:`EDIT_RULES` and ``"all"`` — with ``n_pairs`` and, for
        ``m`` in ``cos_edit`` and ``prefers_original``: ``m_base``, ``m_tuned``, ``m_delta`` (tuned − base),
        ``m_ci_low``/``m_ci_high`` (paired bootstrap CI of Δ, pairs resampled whole) and ``m_p_value``
        (sign-flip test), both from :func:`diagnostics.statistics.paired_comparison`, and each model's
        own percentile bootstrap CI ``m_base_ci_low`` … ``m_tuned_ci_high``
        (:func:`diagnostics.statistics.paired_bootstrap_ci` of its values). Cells without pairs have
        ``n_pairs`` 0 and NaN. Lower ``cos_edit`` is more sensitive; higher ``prefers_original`` is better.
    """
    hint = "the output of score_pairs"
    needed = ("pair_id", "domain", "rule", *_METRICS)
    base = _check_columns(base, needed, name="base", hint=hint)
    tuned = _check_columns(tuned, needed, name="tuned", hint=hint)
    if len(base) != len(tuned) or not np.array_equal(base["pair_id"].astype(str), tuned["pair_id"].astype(str)):
        raise InputError(f"base ({len(base)} pairs) and tuned ({len(tuned)} pairs) must score the same pairs in "
                         "the same order; score the output of one build_pairs call with each model")
    seed = check_seed(seed, name="probe seed")
    n_boot = check_whole(n_boot, name="n_boot", low=1, hint="1000 or more is usual")
    domains = sorted(base["domain"].astype(str).unique())
    rules = [*EDIT_RULES, ALL_RULES]
    rows = {(d, r): {"domain": d, "rule": r, "n_pairs": 0} for d in [*domains, OVERALL] for r in rules}
    for rule in rules:
        mask = np.ones(len(base), bool) if rule == ALL_RULES else (base["rule"] == rule).to_numpy()
        frames = [pd.DataFrame({"query_id": f["pair_id"].astype(str).to_numpy()[mask],
                                "domain": f["domain"].astype(str).to_numpy()[mask],
                                **{m: f[m].to_numpy(dtype=np.float64)[mask] for m in _METRICS}})
                  for f in (base, tuned)]
        table = paired_comparison(*frames, metrics=list(_METRICS), n_resamples=n_boot, n_permutations=n_boot,
                                  confidence=confidence, random_state=seed)
        for cell in table.to_dict(orient="records"):
            row: dict[str, Any] = rows[(str(cell["domain"]), rule)]
            row["n_pairs"], m = int(cell["n_queries"]), str(cell["metric"])
            row.update({f"{m}_{stat}": cell[stat] for stat in ("base", "tuned", "delta", "ci_low", "ci_high",
                                                                 "p_value")})
            within = np.ones(len(frames[0]), bool) if cell["domain"] == OVERALL else \
                (frames[0]["domain"] == cell["domain"]).to_numpy()
            for model, frame in zip(("base", "tuned"), frames, strict=True):
                low, high = paired_bootstrap_ci(frame[m].to_numpy()[within], n_resamples=n_boot,
                                                confidence=confidence, random_state=seed)
                row[f"{m}_{model}_ci_low"], row[f"{m}_{model}_ci_high"] = low, high
    columns = ["domain", "rule", "n_pairs", *(f"{m}_{s}" for m in _METRICS for s in _STATS)]
    out = pd.DataFrame(list(rows.values())).reindex(columns=columns)
    out["n_pairs"] = out["n_pairs"].astype(np.int64)
    return out
