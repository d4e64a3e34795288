"""The terminal's command language: the part of bash the labs need, parsed here, never by a shell.

Quotes, backslashes and line continuations behave as in bash; ``$NAME``, ``${NAME}``, ``$?``,
``$(...)`` and backticks are kept as parts of a word and expanded when the command runs (a
variable set by the previous command is visible to the next). ``&&``, ``||``, ``;``, newlines and
``|`` connect commands. Redirections, background jobs and subshells are refused while parsing, so
nothing of a refused line runs.
"""

import re
from dataclasses import dataclass, field

MAX_DEPTH = 4  # nested $(...) and backticks
MAX_SUBSTITUTIONS = 16  # per line, counting nested ones
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SPECIAL_PARAMETERS = "?$#@*!-0123456789"


class ParseError(Exception):
    """The line is not valid in bash, or uses what this terminal refuses; nothing runs."""


@dataclass(frozen=True)
class Literal:
    text: str
    quoted: bool


@dataclass(frozen=True)
class Variable:
    name: str
    quoted: bool


@dataclass(frozen=True)
class Substitution:
    """``$(...)`` or backticks: its output, less trailing newlines, is the value."""

    script: "Script"
    quoted: bool


Part = Literal | Variable | Substitution
Word = tuple[Part, ...]


@dataclass
class Command:
    words: list[Word]


@dataclass
class Pipeline:
    commands: list[Command]


@dataclass
class Step:
    """A pipeline and how the next one depends on it: ``&&``, ``||`` or ``;`` (always runs)."""

    pipeline: Pipeline
    then: str = ";"


@dataclass
class Script:
    steps: list[Step] = field(default_factory=list)


REDIRECTION = (
    "redirection is not available in this lab: the terminal cannot read or write files. "
    "Output appears here; copy it from the log."
)
REFUSED_OPERATORS = {
    ">": REDIRECTION,
    "<": REDIRECTION,
    "&": "background jobs (&) are not available in this lab.",
    "(": "subshells ( ... ) are not available in this lab.",
    ")": "syntax error near unexpected token `)'",
}


def parse(source: str) -> Script:
    """Parse one command line (which may span lines). Raises ParseError."""
    parser = _Lexer(source, depth=0, counter=[0])
    tokens = parser.tokens()
    return _script(tokens)


class _Lexer:
    def __init__(self, source: str, *, depth: int, counter: list[int], closing: str = ""):
        self.source = source
        self.pos = 0
        self.depth = depth
        self.counter = counter  # substitutions so far in the whole line, shared with nested lexers
        self.closing = closing  # ")" inside $(...): where this nested lexer stops

    def tokens(self) -> list:
        """Words (tuples of parts) and operators (str)."""
        tokens: list = []
        parts: list[Part] = []
        in_word = False
        source = self.source

        def end_word():
            nonlocal parts, in_word
            if in_word:
                tokens.append(_merge(parts))
            parts, in_word = [], False

        while self.pos < len(source):
            char = source[self.pos]
            if self.closing and char == self.closing:
                end_word()
                self.pos += 1
                return tokens
            if char in " \t":
                end_word()
                self.pos += 1
            elif char == "\n":
                end_word()
                tokens.append("\n")
                self.pos += 1
            elif char == "\\":
                if source.startswith("\\\n", self.pos):
                    self.pos += 2  # line continuation
                    continue
                if self.pos + 1 < len(source):
                    parts.append(Literal(source[self.pos + 1], True))
                in_word = True
                self.pos += 2
            elif char == "'":
                end = source.find("'", self.pos + 1)
                if end < 0:
                    raise ParseError("unexpected EOF while looking for matching `''")
                parts.append(Literal(source[self.pos + 1 : end], True))
                in_word = True
                self.pos = end + 1
            elif char == '"':
                self.pos += 1
                parts.extend(self._double_quoted())
                in_word = True
            elif char == "$":
                parts.extend(self._dollar(quoted=False))
                in_word = True
            elif char == "`":
                parts.append(self._backticks(quoted=False))
                in_word = True
            elif char == "#" and not in_word:
                newline = source.find("\n", self.pos)
                self.pos = len(source) if newline < 0 else newline
            elif char in "&|;<>()":
                end_word()
                tokens.append(self._operator())
            else:
                parts.append(Literal(char, False))
                in_word = True
                self.pos += 1
        if self.closing:
            raise ParseError("unexpected EOF while looking for matching `)'")
        end_word()
        return tokens

    def _operator(self) -> str:
        source, pos = self.source, self.pos
        for operator in ("&&", "||", ";;", "|&", ">>", "<<", "&>", ">&", ">|"):
            if source.startswith(operator, pos):
                break
        else:
            operator = source[pos]
        self.pos += len(operator)
        if operator in ("&&", "||", ";", "|"):
            return operator
        if operator in (";;", "|&"):
            raise ParseError(f"syntax error near unexpected token `{operator}'")
        raise ParseError(REFUSED_OPERATORS.get(operator[0], REDIRECTION))

    def _double_quoted(self) -> list[Part]:
        parts: list[Part] = [Literal("", True)]  # "" is an (empty) word of its own
        source = self.source
        while self.pos < len(source):
            char = source[self.pos]
            if char == '"':
                self.pos += 1
                return parts
            if char == "\\" and self.pos + 1 < len(source):
                following = source[self.pos + 1]
                if following == "\n":
                    pass
                elif following in '$`"\\':
                    parts.append(Literal(following, True))
                else:
                    parts.append(Literal("\\" + following, True))
                self.pos += 2
            elif char == "$":
                parts.extend(self._dollar(quoted=True))
            elif char == "`":
                parts.append(self._backticks(quoted=True))
            else:
                parts.append(Literal(char, True))
                self.pos += 1
        raise ParseError("unexpected EOF while looking for matching `\"'")

    def _dollar(self, *, quoted: bool) -> list[Part]:
        source, start = self.source, self.pos
        following = source[start + 1 : start + 2]
        if source.startswith("$((", start):
            raise ParseError("arithmetic $(( )) is not available in this lab.")
        if following == "(":
            self.pos = start + 2
            return [self._substitution(closing=")", quoted=quoted)]
        if following == "{":
            end = source.find("}", start + 2)
            if end < 0:
                raise ParseError("unexpected EOF while looking for matching `}'")
            name = source[start + 2 : end]
            if not (NAME.fullmatch(name) or (len(name) == 1 and name in SPECIAL_PARAMETERS)):
                raise ParseError(f"{source[start : end + 1]}: bad substitution")
            self.pos = end + 1
            return [Variable(name, quoted)]
        if following and following in SPECIAL_PARAMETERS:
            self.pos = start + 2
            return [Variable(following, quoted)]
        match = NAME.match(source, start + 1)
        if match:
            self.pos = match.end()
            return [Variable(match.group(), quoted)]
        if following == "'" and not quoted:
            return [self._ansi_c()]
        if following == '"' and not quoted:
            self.pos = start + 1  # $"..." is "..." (bash would translate it)
            return []
        self.pos = start + 1
        return [Literal("$", quoted)]

    def _ansi_c(self) -> Literal:
        """``$'...'``: backslash escapes as in C."""
        escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "e": "\x1b"}
        source, pos, text = self.source, self.pos + 2, []
        while pos < len(source):
            char = source[pos]
            if char == "'":
                self.pos = pos + 1
                return Literal("".join(text), True)
            if char == "\\" and pos + 1 < len(source):
                text.append(escapes.get(source[pos + 1], "\\" + source[pos + 1]))
                pos += 2
            else:
                text.append(char)
                pos += 1
        raise ParseError("unexpected EOF while looking for matching `''")

    def _count_substitution(self) -> None:
        self.counter[0] += 1
        if self.counter[0] > MAX_SUBSTITUTIONS:
            raise ParseError(
                f"too many command substitutions in one line (this lab allows {MAX_SUBSTITUTIONS})."
            )
        if self.depth + 1 > MAX_DEPTH:
            raise ParseError(
                f"command substitutions nested too deep (this lab allows {MAX_DEPTH})."
            )

    def _substitution(self, *, closing: str, quoted: bool) -> Substitution:
        self._count_substitution()
        nested = _Lexer(self.source, depth=self.depth + 1, counter=self.counter, closing=closing)
        nested.pos = self.pos
        tokens = nested.tokens()
        self.pos = nested.pos
        return Substitution(_script(tokens), quoted)

    def _backticks(self, *, quoted: bool) -> Substitution:
        self._count_substitution()
        source, pos, inner = self.source, self.pos + 1, []
        while pos < len(source):
            char = source[pos]
            if char == "`":
                break
            if char == "\\" and pos + 1 < len(source):
                following = source[pos + 1]
                if following in "$`\\" or (quoted and following == '"'):
                    inner.append(following)
                else:
                    inner.append("\\" + following)
                pos += 2
            else:
                inner.append(char)
                pos += 1
        else:
            raise ParseError("unexpected EOF while looking for matching ``'")
        self.pos = pos + 1
        tokens = _Lexer("".join(inner), depth=self.depth + 1, counter=self.counter).tokens()
        return Substitution(_script(tokens), quoted)


def _merge(parts: list[Part]) -> Word:
    """Join neighbouring literals with the same quoting, so words stay small."""
    merged: list[Part] = []
    for part in parts:
        previous = merged[-1] if merged else None
        if (
            isinstance(part, Literal)
            and isinstance(previous, Literal)
            and previous.quoted == part.quoted
        ):
            merged[-1] = Literal(previous.text + part.text, part.quoted)
        else:
            merged.append(part)
    return tuple(merged)


def _script(tokens: list) -> Script:
    script = Script()
    commands: list[Command] = []
    words: list[Word] = []
    pending = None  # the operator that needs a command after it

    def end_pipeline(then: str):
        script.steps.append(Step(Pipeline(commands[:]), then))
        commands.clear()

    for item in tokens:
        if isinstance(item, tuple):
            words.append(item)
            pending = None
            continue
        if item == "\n" and not words and (pending in ("&&", "||", "|") or not commands):
            continue  # blank lines, and a newline after && or | continues the command
        if not words:
            shown = "newline" if item == "\n" else item
            raise ParseError(f"syntax error near unexpected token `{shown}'")
        commands.append(Command(words))
        words = []
        if item == "|":
            pending = "|"
            continue
        end_pipeline(";" if item == "\n" else item)
        pending = item if item in ("&&", "||") else None
    if pending:
        raise ParseError("syntax error: unexpected end of file")
    if words:
        commands.append(Command(words))
    if commands:
        end_pipeline(";")
    return script
