"""Chat templates: a conversation rendered by a Jinja2 template, then ``input_ids`` and ``labels``.

:func:`render_chat` renders the way ``transformers``' ``apply_chat_template`` does: a sandboxed,
immutable Jinja2 environment with ``trim_blocks`` and ``lstrip_blocks``, the ``loopcontrols``
extension, a ``{% generation %}`` block that marks what the assistant says, and the helpers
templates call (``raise_exception``, a ``tojson`` that does not escape HTML, ``strftime_now``).
The template sees ``messages``, ``add_generation_prompt`` and any other keyword (``bos_token``...).

:func:`build_example` tokenizes the rendering for training: ``labels`` equal ``input_ids`` on the
tokens inside ``{% generation %}`` blocks (the assistant's words and its end-of-turn token) and
:data:`IGNORE_INDEX` everywhere else; a model shifts them by one itself. Special strings may come
from the template's markup only: if message text would render as a special token,
:class:`ChatTemplateError` says so.

>>> messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
>>> print(render_chat(CHATML_TEMPLATE, messages))
<|im_start|>user
Hi<|im_end|>
<|im_start|>assistant
Hello!<|im_end|>
<BLANKLINE>
>>> render_chat(MISTRAL_TEMPLATE, messages, bos_token="<s>", eos_token="</s>")
'<s>[INST] Hi [/INST]Hello!</s>'
"""

from __future__ import annotations

import functools
import json
import re
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from typing import Any, Sequence

import jinja2
import jinja2.ext
import jinja2.nodes
import tiktoken
import tokenizers
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = [
    "CHATML_TEMPLATE", "ChatExample", "ChatTemplateError", "IGNORE_INDEX", "MISTRAL_TEMPLATE", "build_example",
    "render_chat",
]

IGNORE_INDEX = -100

# ChatML (<|im_start|>role ... <|im_end|>): any role name; the assistant's reply and its <|im_end|> are learned.
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('unknown role ' ~ message['role'] ~ '; this template knows system, user and assistant') }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{% else %}{{ message['content'] + '<|im_end|>\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Mistral-style: <s>[INST] user [/INST]reply</s>; user and assistant must alternate, starting with user.
MISTRAL_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['user', 'assistant'] %}"
    "{{ raise_exception('unknown role ' ~ message['role'] ~ '; this template knows user and assistant') }}"
    "{% endif %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('roles must alternate user/assistant/user/..., starting with user') }}"
    "{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}"
    "{% endif %}"
    "{% endfor %}"
)

# Private-use characters that mark, during rendering, what a {% generation %} block wrote and
# what came from the messages. Messages may not contain them.
_GEN_OPEN, _GEN_CLOSE, _DATA_OPEN, _DATA_CLOSE = "\ue000", "\ue001", "\ue002", "\ue003"
_MARKS = re.compile("[\ue000-\ue003]")


class ChatTemplateError(ValueError):
    """A template refused a conversation, or would let message text become a special token."""


class _Generation(jinja2.ext.Extension):
    """``{% generation %}...{% endgeneration %}``: the body, wrapped in marks that render_chat removes."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_mark"), [], [], body).set_lineno(lineno)

    def _mark(self, caller):
        return _GEN_OPEN + caller() + _GEN_CLOSE


def _raise_exception(message):
    raise ChatTemplateError(message)


def _tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


@functools.lru_cache(maxsize=32)
def _compile(template: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[_Generation, jinja2.ext.loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)


def _strings(value: Any):
    """Every str inside ``value`` (nested dicts and lists)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _check_messages(messages: Sequence[dict]) -> None:
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise TypeError("messages must be a list of dicts like {'role': 'user', 'content': 'Hi'}")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise TypeError(f"message {i} must be a dict with a str 'role' and a str 'content', got {m!r}")
        if any(_MARKS.search(s) for s in _strings(m)):
            raise ValueError(f"message {i} contains a character in U+E000..U+E003, which render_chat reserves; remove it")


def _wrap_data(value: Any) -> Any:
    if isinstance(value, str):
        return _DATA_OPEN + value + _DATA_CLOSE
    if isinstance(value, dict):
        return {k: _wrap_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wrap_data(v) for v in value]
    return value


def _render(template: str, messages: Sequence[dict], add_generation_prompt: bool, variables: dict,
            mark_data: bool) -> tuple[str, list[tuple[int, int]], list[tuple[int, int]]]:
    """The rendering without marks, the spans of {% generation %} blocks, the spans of message text."""
    _check_messages(messages)
    if not isinstance(template, str):
        raise TypeError("template must be a Jinja2 template string, e.g. CHATML_TEMPLATE")
    if _MARKS.search(template):
        raise ValueError("the template contains a character in U+E000..U+E003, which render_chat reserves; remove it")
    if mark_data:
        messages = [{k: (_wrap_data(v) if k != "role" else v) for k, v in m.items()} for m in messages]
    try:
        marked = _compile(template).render(messages=list(messages), add_generation_prompt=add_generation_prompt,
                                           **variables)
    except jinja2.TemplateSyntaxError as exc:
        raise ChatTemplateError(f"the chat template is not valid Jinja2 (line {exc.lineno}): {exc.message}") from None
    text, spans, opened = [], {_GEN_OPEN: [], _DATA_OPEN: []}, {}
    position = 0
    for piece in re.split("([\ue000-\ue003])", marked):
        if piece in (_GEN_OPEN, _DATA_OPEN):
            opened[piece] = position
        elif piece in (_GEN_CLOSE, _DATA_CLOSE):
            start = chr(ord(piece) - 1)
            spans[start].append((opened.pop(start), position))
        else:
            text.append(piece)
            position += len(piece)
    return "".join(text), spans[_GEN_OPEN], spans[_DATA_OPEN]


def render_chat(template: str, messages: Sequence[dict], *, add_generation_prompt: bool = False, **variables) -> str:
    """Render ``messages`` with a Jinja2 chat ``template``, as ``apply_chat_template(tokenize=False)`` does.

    A template's ``raise_exception(...)`` (an unknown role, roles out of order) raises
    :class:`ChatTemplateError` with the template's message.
    """
    return _render(template, messages, add_generation_prompt, variables, mark_data=False)[0]


@dataclass(frozen=True)
class ChatExample:
    """One rendered conversation: its ``text``, ``input_ids`` and ``labels`` (same length)."""

    text: str
    input_ids: list[int]
    labels: list[int]

    @property
    def assistant_mask(self) -> list[int]:
        """1 where the label is learned, 0 where it is :data:`IGNORE_INDEX`."""
        return [int(label != IGNORE_INDEX) for label in self.labels]


def _special_strings(tokenizer) -> set[str]:
    if isinstance(tokenizer, tiktoken.Encoding):
        return set(tokenizer.special_tokens_set)
    return {a.content for a in tokenizer.get_added_tokens_decoder().values() if a.special}


def _encode_with_offsets(tokenizer, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Ids of ``text`` with special strings as special ids, and each token's (start, end) in characters."""
    if isinstance(tokenizer, tiktoken.Encoding):
        ids = tokenizer.encode(text, allowed_special="all")
        char_at_byte = []  # char_at_byte[b]: the index of the character that byte b belongs to
        for i, ch in enumerate(text):
            char_at_byte += [i] * len(ch.encode("utf-8"))
        char_at_byte.append(len(text))
        ends = list(accumulate(len(tokenizer.decode_single_token_bytes(i)) for i in ids))
        starts = [0, *ends[:-1]]
        return ids, [(char_at_byte[s], char_at_byte[e - 1] + 1) for s, e in zip(starts, ends)]
    before = tokenizer.encode_special_tokens
    tokenizer.encode_special_tokens = False
    try:
        encoding = tokenizer.encode(text, add_special_tokens=False)
    finally:
        tokenizer.encode_special_tokens = before
    return encoding.ids, list(encoding.offsets)


def build_example(template: str, messages: Sequence[dict], tokenizer: tiktoken.Encoding | tokenizers.Tokenizer, *,
                  add_generation_prompt: bool = False, **variables) -> ChatExample:
    """Render ``messages`` and tokenize the text for training.

    ``input_ids`` are those of ``apply_chat_template(tokenize=True)``: the whole rendering encoded
    at once, special strings becoming special ids. ``labels`` keep the id of every token that
    overlaps a ``{% generation %}`` block and are :data:`IGNORE_INDEX` elsewhere (transformers'
    ``assistant_masks`` rule). Raises :class:`ChatTemplateError` if a special string of the
    tokenizer overlaps text that came from a message (sanitize it or build from ids), if the
    template changes or tests message text so that it cannot be told apart (``trim``, ``== ''``),
    or if an assistant turn has no ``{% generation %}`` block.
    """
    if not isinstance(tokenizer, (tiktoken.Encoding, tokenizers.Tokenizer)):
        raise TypeError(f"tokenizer must be a tiktoken.Encoding or a tokenizers.Tokenizer, got {type(tokenizer).__name__}")
    text = _render(template, messages, add_generation_prompt, variables, mark_data=False)[0]
    marked_text, generation, data = _render(template, messages, add_generation_prompt, variables, mark_data=True)
    if marked_text != text:
        raise ChatTemplateError("the template changes or tests message text (a filter such as trim, a comparison "
                                "with ''), so message text cannot be told apart from markup; render message content "
                                "unchanged, or build the conversation from ids")
    if any(m["role"] == "assistant" for m in messages) and not generation:
        raise ChatTemplateError("the template has no {% generation %} block, so no token would be learned; "
                                "wrap the assistant's reply and its end-of-turn token in {% generation %}...{% endgeneration %}")
    specials = _special_strings(tokenizer)
    for m in messages:  # roles are compared by templates, so they cannot be marked: check them whole
        if any(special in m["role"] for special in specials):
            raise ChatTemplateError(f"the role {m['role']!r} contains a special string of the tokenizer; "
                                    "roles are markup: use the template's own role names")
    starts = [s for s, _ in data]
    for special in specials:
        for found in re.finditer(re.escape(special), text):
            k = bisect_right(starts, found.start()) - 1
            inside = [span for span in data[max(k, 0):k + 2] if span[0] < found.end() and found.start() < span[1]]
            if inside:
                raise ChatTemplateError(
                    f"message text would become the special token {special!r} (at character {found.start()}); "
                    "sanitize the text (tokbook.special_tokens.sanitize) or build the conversation from ids")
    ids, offsets = _encode_with_offsets(tokenizer, text)
    labels = [i if any(s < end and start < e for s, e in generation) else IGNORE_INDEX
              for i, (start, end) in zip(ids, offsets)]
    return ChatExample(text, ids, labels)
