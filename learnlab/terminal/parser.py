"""The terminal's command language: the part of bash the labs need, parsed here, never by a shell.

Quotes, backslashes and line continuations behave as in bash; ``$NAME``, ``${NAME}``, ``$?``,
``$(...)`` and backticks are kept as parts of a word and expanded when the command runs (a
variable set by the previous command is visible to the next). ``&&``, ``||``, ``;``, newlines and
``|`` connect commands. ``> FILE``, ``>> FILE``, ``< FILE`` and here-documents (``<<EOF``,
``<<'EOF'``, ``<<-EOF``) read and write the host's virtual home (``home.py``); a literal target
outside it, other redirections, background jobs and subshells are refused while parsing, so nothing
of a refused line runs. A line whose here-document is still open raises ``Incomplete``: the
terminal asks for the rest, as bash's ``> `` prompt does.
"""

import re
from dataclasses import dataclass, field

from learnlab.terminal import home

MAX_DEPTH = 4  # nested $(...) and backticks
MAX_SUBSTITUTIONS = 16  # per line, counting nested ones
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SPECIAL_PARAMETERS = "?$#@*!-0123456789"


class ParseError(Exception):
    """The line is not valid in bash, or uses what this terminal refuses; nothing runs."""


class Incomplete(ParseError):
    """A here-document is still open at the end of the line: more lines are needed."""

    def __init__(self, delimiter: str):
        super().__init__(f"warning: here-document delimited by end-of-file (wanted `{delimiter}')")
        self.delimiter = delimiter


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


@dataclass(frozen=True)
class Redirect:
    """``>``, ``>>`` or ``<`` with its ``target`` word, or a here-document (``<<``) with its
    ``body`` (a word: expansions only when the delimiter was unquoted)."""

    operator: str
    target: Word = ()
    body: Word = ()


@dataclass
class _HereDocument:
    """A here-document while lexing: its body is read at the end of its line."""

    delimiter: str
    quoted: bool
    strip_tabs: bool
    body: Word = ()


@dataclass
class Command:
    words: list[Word]
    redirects: list[Redirect] = field(default_factory=list)


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
    "this redirection is not available in this lab: the terminal has > FILE, >> FILE, < FILE "
    "and here-documents (<<EOF), with files in your home directory."
)
OUTSIDE_HOME = (
    "{path}: redirection is not available in this lab outside your home directory: write to "
    "a file name such as out.json or ~/out.json"
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
        self.here_documents: list[_HereDocument] = []  # opened on this line, bodies not read

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
                self._read_here_documents()
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
                if char in "<>" and in_word and _is_number(parts):
                    raise ParseError(REDIRECTION)  # 2>file, 2>&1: file descriptors
                end_word()
                tokens.append(self._operator())
            else:
                parts.append(Literal(char, False))
                in_word = True
                self.pos += 1
        if self.closing:
            raise ParseError("unexpected EOF while looking for matching `)'")
        end_word()
        if self.here_documents:
            raise Incomplete(self.here_documents[0].delimiter)
        return tokens

    def _operator(self):
        source, pos = self.source, self.pos
        operators = ("&&", "||", ";;", "|&", "<<<", "<<-", ">>", "<<", "&>", ">&", ">|", "<>", "<&")
        for operator in operators:
            if source.startswith(operator, pos):
                break
        else:
            operator = source[pos]
        self.pos += len(operator)
        if operator in ("&&", "||", ";", "|", ">", ">>", "<"):
            return operator
        if operator in ("<<", "<<-"):
            return self._here_document(strip_tabs=operator == "<<-")
        if operator in (";;", "|&"):
            raise ParseError(f"syntax error near unexpected token `{operator}'")
        if operator == "<<<":
            raise ParseError(
                "here-strings (<<<) are not available in this lab: use a here-document, "
                "cat > FILE <<'EOF' ... EOF"
            )
        raise ParseError(REFUSED_OPERATORS.get(operator[0], REDIRECTION))

    def _here_document(self, *, strip_tabs: bool) -> _HereDocument:
        """``<<WORD``: the delimiter now, the body once the line ends (``_read_here_documents``).
        Any quoting in WORD means the body is taken as it is, without expansions."""
        if self.depth:
            raise ParseError("here-documents inside $(...) or `...` are not available in this lab.")
        source = self.source
        while self.pos < len(source) and source[self.pos] in " \t":
            self.pos += 1
        delimiter, quoted = [], False
        while self.pos < len(source) and source[self.pos] not in " \t\n;&|<>()":
            char = source[self.pos]
            if char in "'\"":
                end = source.find(char, self.pos + 1)
                if end < 0:
                    raise ParseError(f"unexpected EOF while looking for matching `{char}'")
                delimiter.append(source[self.pos + 1 : end])
                quoted, self.pos = True, end + 1
            elif char == "\\" and self.pos + 1 < len(source):
                delimiter.append(source[self.pos + 1])
                quoted, self.pos = True, self.pos + 2
            else:
                delimiter.append(char)
                self.pos += 1
        if not delimiter:
            shown = (
                "newline"
                if self.pos >= len(source) or source[self.pos] == "\n"
                else (source[self.pos])
            )
            raise ParseError(f"syntax error near unexpected token `{shown}'")
        document = _HereDocument("".join(delimiter), quoted, strip_tabs)
        self.here_documents.append(document)
        return document

    def _read_here_documents(self) -> None:
        """After a newline: the bodies of the here-documents opened on the line just ended, each
        up to its delimiter line. Incomplete when the text ends first."""
        source = self.source
        while self.here_documents:
            document = self.here_documents[0]
            lines = []
            while True:
                if self.pos >= len(source):
                    raise Incomplete(document.delimiter)
                newline = source.find("\n", self.pos)
                end = len(source) if newline < 0 else newline
                line = source[self.pos : end]
                self.pos = end + 1 if newline >= 0 else end
                if document.strip_tabs:
                    line = line.lstrip("\t")
                if line == document.delimiter:
                    break
                if newline < 0:
                    raise Incomplete(document.delimiter)
                lines.append(line + "\n")
            body = "".join(lines)
            if document.quoted:
                document.body = (Literal(body, True),)
            else:
                document.body = _Lexer(body, depth=self.depth, counter=self.counter).body_parts()
            self.here_documents.pop(0)

    def body_parts(self) -> Word:
        """An unquoted here-document's body: ``$NAME``, ``$(...)`` and backticks expand, a
        backslash escapes only ``$``, a backtick, a backslash and a newline, as in bash."""
        parts: list[Part] = [Literal("", True)]
        source = self.source
        while self.pos < len(source):
            char = source[self.pos]
            if char == "\\" and self.pos + 1 < len(source):
                following = source[self.pos + 1]
                if following in "$`\\":
                    parts.append(Literal(following, True))
                elif following != "\n":
                    parts.append(Literal("\\" + following, True))
                self.pos += 2
            elif char == "$":
                parts.extend(self._dollar(quoted=True))
            elif char == "`":
                parts.append(self._backticks(quoted=True))
            else:
                parts.append(Literal(char, True))
                self.pos += 1
        return _merge(parts)

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


def _is_number(parts: list[Part]) -> bool:
    return bool(parts) and all(
        isinstance(part, Literal) and not part.quoted and part.text.isdigit() for part in parts
    )


def _check_target(word: Word) -> None:
    """A literal file name outside the home is refused before anything of the line runs."""
    if not all(isinstance(part, Literal) for part in word):
        return  # expanded when the command runs, and checked then
    path = "".join(part.text for part in word)
    for user in ("learner", "ec2-user"):
        try:
            home.resolve(path, user=user)
            return
        except home.HomeError as error:
            reason = str(error)
    if reason == "is a directory":
        raise ParseError(f"{path}: Is a directory")
    if reason.startswith("not available"):
        raise ParseError(OUTSIDE_HOME.format(path=path))
    raise ParseError(f"{path}: {reason}")


def _script(tokens: list) -> Script:
    script = Script()
    commands: list[Command] = []
    words: list[Word] = []
    redirects: list[Redirect] = []
    pending = None  # the operator that needs a command after it
    target_of = None  # a redirection operator waiting for its file name

    def end_pipeline(then: str):
        script.steps.append(Step(Pipeline(commands[:]), then))
        commands.clear()

    for item in tokens:
        if isinstance(item, tuple):
            if target_of:
                _check_target(item)
                redirects.append(Redirect(target_of, target=item))
                target_of = None
            else:
                words.append(item)
            pending = None
            continue
        if isinstance(item, _HereDocument):
            redirects.append(Redirect("<<", body=item.body))
            pending = None
            continue
        if target_of:
            shown = "newline" if item == "\n" else item
            raise ParseError(f"syntax error near unexpected token `{shown}'")
        if item in (">", ">>", "<"):
            target_of = item
            continue
        if (
            item == "\n"
            and not words
            and not redirects
            and (pending in ("&&", "||", "|") or not commands)
        ):
            continue  # blank lines, and a newline after && or | continues the command
        if not words and not redirects:
            shown = "newline" if item == "\n" else item
            raise ParseError(f"syntax error near unexpected token `{shown}'")
        commands.append(Command(words, redirects))
        words, redirects = [], []
        if item == "|":
            pending = "|"
            continue
        end_pipeline(";" if item == "\n" else item)
        pending = item if item in ("&&", "||") else None
    if target_of:
        raise ParseError("syntax error near unexpected token `newline'")
    if pending:
        raise ParseError("syntax error: unexpected end of file")
    if words or redirects:
        commands.append(Command(words, redirects))
    if commands:
        end_pipeline(";")
    return script
