"""Realistic argument values by parameter name (and, failing that, description): the realism
layer of :mod:`toolace_kedro.toolcalls.values`.

:func:`find_hint` maps a parameter to a :class:`Hint`: a source of candidate strings (the
spellings of one entity, e.g. ``["France", "FR", "FRA"]``: the first one the schema accepts is
used, so ``^[A-Z]{2}$`` gets ``"FR"``) and typical integer/number ranges. Names are split into
lower-case tokens (``checkInDate`` → ``check_in_date``) and matched whole-token against
:data:`RULES` in order, most specific first. A generic name (``name``, ``value``, ``type``...)
asks the description first. Strings come from small curated lists of real things (cities,
currencies, tickers...) or from Faker (people, companies, emails, addresses), always through the
caller's ``random.Random``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from toolace_kedro.toolcalls.value_lists import (
    ADJECTIVES,
    AIRPORTS,
    ARTISTS,
    CATEGORIES,
    CITIES,
    COLORS,
    COUNTRIES,
    CUISINES,
    CURRENCIES,
    DEVICES,
    DISHES,
    EVENTS,
    GAMES,
    GENRES,
    HOTELS,
    INGREDIENTS,
    LANGUAGES,
    LEVELS,
    MESSAGES,
    MUSEUMS,
    PLATFORMS,
    PRODUCTS,
    QUERIES,
    RESTAURANTS,
    SIZES,
    SPORTS,
    STATES,
    STATUSES,
    SUBJECTS,
    TAGS,
    TEAMS,
    TECH_WORDS,
    TICKERS,
    TIMEZONES,
    TITLES,
    UNITS,
)

__all__ = ["FORMAT_TEXTS", "Hint", "RULES", "description_words", "find_hint", "in_order", "noun_phrase", "singular",
           "tokens"]

Texts = Callable[[Any, Any, list[str]], list[str]]  # (faker, rng, name words) -> candidate spellings


@dataclass(frozen=True)
class Hint:
    """Where realistic values of one kind of parameter come from."""

    label: str
    text: Texts | None = None
    integer: tuple[int, int, int] | None = None  # low, high, step
    number: tuple[float, float, float, float] | None = None  # low, high, step, tail (49.99 = 50 - 0.01)
    kind: str = "string"  # the JSON type when the schema names none


GENERIC = {"name", "value", "values", "type", "input", "data", "param", "parameter", "text", "string", "key",
           "item", "object", "info", "field", "arg", "args", "option", "options", "target", "source", "entity",
           "q", "x", "y", "s", "v", "val", "str"}
_STOP = {"the", "a", "an", "of", "to", "for", "in", "on", "at", "by", "with", "and", "or", "is", "be", "that",
         "this", "which", "from", "as", "e", "g", "eg", "optional", "required", "default", "specified", "given",
         "user", "users", "want", "wants", "should", "will", "can", "it", "its", "if", "not", "per", "each",
         "every"}
_DESCRIPTION_WORDS = 10
_FILLERS = {"specific", "particular", "desired", "certain", "new", "current", "given", "provided", "selected",
            "which", "what", "whether", "used", "use", "based", "want", "like", "example", "e", "g"}


def _ident(fk: Any, rng: Any, toks: list[str]) -> list[str]:
    head = next((t for t in toks if t not in {"id", "ids", "code", "number", "no", "num", "ref", "reference"}), "ref")
    consonants = head[0] + "".join(c for c in head[1:] if c not in "aeiou")  # order → ORD, user → USR
    prefix = (consonants if len(consonants) >= 3 else head + "X" * 3)[:3].upper()
    digits = rng.randint(10000, 999999)
    return [f"{prefix}-{digits}", f"{prefix}{digits}", str(digits)]


def _date(low: int, high: int) -> Texts:
    def make(fk: Any, rng: Any, toks: list[str]) -> list[str]:
        return [f"{rng.randint(low, high)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"]
    return make


def _time(fk: Any, rng: Any, toks: list[str]) -> list[str]:
    hour, minute = rng.randint(7, 21), rng.choice([0, 15, 30, 45])
    return [f"{hour:02d}:{minute:02d}", f"{hour:02d}:{minute:02d}:00", f"{hour:02d}:{minute:02d}:00Z"]


def _datetime(fk: Any, rng: Any, toks: list[str]) -> list[str]:
    return [_date(2024, 2026)(fk, rng, toks)[0] + "T" + _time(fk, rng, toks)[2]]


def _pick(values: list) -> Texts:
    def make(fk: Any, rng: Any, toks: list[str]) -> list[str]:
        chosen = rng.choice(values)
        return list(chosen) if isinstance(chosen, tuple) else [chosen]
    return make


def _city(fk: Any, rng: Any, toks: list[str]) -> list[str]:
    city, country = rng.choice(CITIES)
    return [city, f"{city}, {country}", rng.choice(AIRPORTS)]


def _units(fk: Any, rng: Any, toks: list[str]) -> list[str]:
    key = next((k for t in toks for k in UNITS if k and t.startswith(k)), "")  # the name's words first
    return [rng.choice(UNITS[key])]


def _address(fk: Any, rng: Any, toks: list[str]) -> list[str]:
    city, _ = rng.choice(CITIES)
    return [f"{fk.street_address()}, {city}", fk.street_address()]


def _phone(fk: Any, rng: Any, toks: list[str]) -> list[str]:
    number = f"{rng.randint(201, 989)}-555-{rng.randint(0, 9999):04d}"
    return [f"+1-{number}", number, number.replace("-", "")]


def _secret(fk: Any, rng: Any, toks: list[str]) -> list[str]:
    return ["".join(rng.choice(string.hexdigits[:16]) for _ in range(32))]


def _resource(fk: Any, rng: Any, toks: list[str]) -> list[str]:
    head = next((t for t in toks if t in _RESOURCES), "app")
    return [f"{rng.choice(TECH_WORDS)}-{head}", f"{rng.choice(TECH_WORDS)}_{head}"]


_RESOURCES = {"deployment", "image", "service", "cluster", "bucket", "table", "database", "db", "repo", "repository",
              "branch", "app", "application", "container", "namespace", "pod", "instance", "server", "queue",
              "workspace", "environment", "env", "pipeline", "dataset", "channel", "project"}


def _rule(words: str, hint: Hint) -> tuple[re.Pattern[str], Hint]:
    return re.compile(rf"(?:^|_)(?:{words})(?:_|$)"), hint


def _h(label: str, text: Texts | None = None, integer: tuple | None = None, number: tuple | None = None,
       kind: str = "string") -> Hint:
    return Hint(label, text, integer, number, kind)


_ID = Hint("id", _ident, (1000, 99999, 1))

#: (whole-token regex over the ``_``-joined tokens, hint), most specific first
RULES: list[tuple[re.Pattern[str], Hint]] = [
    (re.compile(r"(?:^|_)(?:id|ids|identifier|uid|sku|isbn)$"), _ID),  # order_id, property_id: an id first
    _rule("e_?mail(s)?(_address)?", _h("email", lambda fk, rng, t: [fk.email()])),
    _rule("url|uri|link|website|homepage|webpage|endpoint|href|webhook",
          _h("url", lambda fk, rng, t: [fk.url() + rng.choice(["", "about", "products/42", "blog"])])),
    _rule("phone|telephone|mobile|tel|fax|whatsapp", _h("phone", _phone)),
    _rule("ip|ip_address|ipv4", _h("ip", lambda fk, rng, t: [fk.ipv4_public()])),
    _rule("domain|hostname|host", _h("hostname", lambda fk, rng, t: [fk.domain_name()])),
    _rule("uuid|guid", _h("uuid", lambda fk, rng, t: [fk.uuid4()])),
    _rule("password|passcode|pin", _h("password", lambda fk, rng, t: [fk.password(length=12)])),
    _rule("token|api_key|secret|apikey|access_key", _h("secret", _secret)),
    _rule("first_name|firstname|given_name|forename", _h("first_name", lambda fk, rng, t: [fk.first_name()])),
    _rule("last_name|lastname|surname|family_name", _h("last_name", lambda fk, rng, t: [fk.last_name()])),
    _rule("username|user_name|login|handle|screen_name|nickname", _h("username", lambda fk, rng, t: [fk.user_name()])),
    _rule("file_?name|file|filename|attachment", _h("file", lambda fk, rng, t: [fk.file_name()])),
    _rule("directory|folder|dir", _h("directory", lambda fk, rng, t: ["/" + "/".join(fk.words(2))])),
    _rule("path", _h("path", lambda fk, rng, t: [fk.file_path(depth=2)])),
    _rule("birth_?(date|day)?|dob|date_of_birth|birthday", _h("birth_date", _date(1955, 2004), (1955, 2004, 1))),
    _rule("date_?time|datetime|timestamp|created_at|updated_at|scheduled_at|start_at|end_at",
          _h("datetime", _datetime)),
    _rule("year|release_year|year_published", _h("year", None, (1990, 2025, 1), kind="integer")),
    _rule("month", _h("month", _pick(["June", "March", "October", "January"]), (1, 12, 1))),
    _rule("weekday|day_of_week", _h("weekday", _pick(["Monday", "Wednesday", "Friday", "Saturday"]))),
    _rule("time|start_time|end_time|hour_of_day|clock", _h("time", _time)),
    _rule("date|day|check_?in|check_?out|checkin|checkout|start|end|deadline|due|since|until|arrival_date|"
          "departure_date|return_date|travel_date", _h("date", _date(2025, 2026), (1, 28, 1))),
    _rule("timezone|time_zone|tz", _h("timezone", _pick(TIMEZONES))),
    _rule("airport|iata|airport_code", _h("airport", _pick(AIRPORTS))),
    _rule("country(_code)?|nation|nationality", _h("country", _pick(COUNTRIES))),
    _rule("state|province|region", _h("state", _pick(STATES))),
    _rule("county", _h("county", _pick(["King County", "Cook County", "Orange County", "Travis County"]))),
    _rule("zip(_?code)?|postal(_code)?|post_?code", _h("zip", lambda fk, rng, t: [fk.postcode()], (10000, 99999, 1))),
    _rule("address|street|addr|address_line", _h("address", _address)),
    _rule("city|cities|town|location|destination|origin|departure|arrival|place|venue|from_city|to_city",
          _h("city", _city)),
    _rule("currency|currencies|currency_code|base_currency|target_currency", _h("currency", _pick(CURRENCIES))),
    _rule("language|lang|languages|locale|language_code", _h("language", _pick(LANGUAGES))),
    _rule("ticker|symbol|stock|stock_symbol|tickers|symbols", _h("ticker", _pick(TICKERS))),
    _rule("colou?r|colou?rs", _h("color", _pick(COLORS))),
    _rule("units?|unit_system|measurement", _h("unit", _units)),
    _rule("genre|genres", _h("genre", _pick(GENRES))),
    _rule("team|teams|club", _h("team", _pick(TEAMS))),
    _rule("activity|activities|exercise|workout",
          _h("activity", _pick(["running", "cycling", "swimming", "yoga", "hiking"]))),
    _rule("sport|sports", _h("sport", _pick(SPORTS))),
    _rule("artist|band|singer|musician|composer", _h("artist", _pick(ARTISTS))),
    _rule("job_title|job|position|occupation|role|profession", _h("job", lambda fk, rng, t: [fk.job()])),
    _rule("company|companies|organization|organisation|employer|business|brand|vendor|supplier|manufacturer|"
          "publisher|merchant|store|shop", _h("company", lambda fk, rng, t: [fk.company()])),
    _rule("restaurant|cafe|bar", _h("restaurant", _pick(RESTAURANTS))),
    _rule("hotel|accommodation|property", _h("hotel", _pick(HOTELS))),
    _rule("event|events|meeting|occasion", _h("event", _pick(EVENTS))),
    _rule("museum|gallery|landmark|attraction", _h("museum", _pick(MUSEUMS))),
    _rule("game|games|video_game", _h("game", _pick(GAMES))),
    _rule("streaming_service|streaming|streaming_platform",
          _h("streaming", _pick(["Netflix", "Spotify", "Disney+", "Hulu", "Prime Video"]))),
    _rule("deployment|image|service|cluster|bucket|table|database|db|repo|repository|branch|app|application|"
          "container|namespace|pod|instance|server|queue|workspace|environment|env|pipeline|dataset|channel|"
          "project", _h("resource", _resource)),
    _rule("precision|decimals|decimal_places|digits|round", _h("precision", None, (0, 4, 1), kind="integer")),
    _rule("cuisine", _h("cuisine", _pick(CUISINES))),
    _rule("ingredient|ingredients", _h("ingredient", _pick(INGREDIENTS))),
    _rule("dish|recipe|meal", _h("dish", _pick(DISHES))),
    _rule("product|products|item_name|model", _h("product", _pick(PRODUCTS))),
    _rule("category|categories", _h("category", _pick(CATEGORIES))),
    _rule("device|devices", _h("device", _pick(DEVICES))),
    _rule("platform|os|operating_system", _h("platform", _pick(PLATFORMS))),
    _rule("status", _h("status", _pick(STATUSES))),
    _rule("priority|severity|level|difficulty", _h("level", _pick(LEVELS), (1, 10, 1))),
    _rule("size|sizes", _h("size", _pick(SIZES), (10, 50, 10))),
    _rule("gender|sex", _h("gender", _pick(["female", "male", "non-binary"]))),
    _rule("title|titles|movie|film|book|song|track|album|show|playlist", _h("title", _pick(TITLES))),
    _rule("query|queries|search|search_term|keyword|keywords|term|terms|topic|topics|q",
          _h("query", _pick(QUERIES))),
    _rule("tag|tags|label|labels|interest|interests|hobby|hobbies", _h("tag", _pick(TAGS))),
    _rule("subject|headline", _h("subject", _pick(SUBJECTS))),
    _rule("message|messages|text|content|body|comment|comments|note|notes|review|feedback|prompt|question|"
          "description|summary|reason|instructions?", _h("message", _pick(MESSAGES))),
    _rule("promo(_code)?|coupon(_code)?|voucher(_code)?|discount_code|gift_card",
          _h("promo", lambda fk, rng, t: [rng.choice(["SAVE", "WELCOME", "SPRING"]) + rng.choice(["10", "15", "20"])])),
    _rule("id|ids|identifier|uid|sku|ref|reference|tracking(_number)?|confirmation(_number)?|order_number|"
          "account(_number)?|invoice(_number)?|serial(_number)?|code|codes|isbn|license|flight_number|"
          "booking(_number)?|ticket_number|policy_number|case_number|promo|coupon|voucher", _ID),
    _rule("age", _h("age", None, (18, 75, 1), kind="integer")),
    _rule("lat|latitude", _h("latitude", None, None, (-60.0, 70.0, 0.0001, 0.0), kind="number")),
    _rule("lon|lng|long|longitude", _h("longitude", None, None, (-180.0, 180.0, 0.0001, 0.0), kind="number")),
    _rule("price|prices|cost|fee|fare|min_price|max_price|price_range",
          _h("price", None, (5, 500, 5), (5, 500, 1, 0.01), kind="number")),
    _rule("salary|income|revenue|wage", _h("salary", None, (30000, 150000, 1000), kind="number")),
    _rule("amount|budget|total|balance|payment|sum|deposit|loan|principal",
          _h("amount", None, (10, 2000, 10), (10, 2000, 5, 0.0), kind="number")),
    _rule("rating|ratings|stars|min_rating", _h("rating", None, (1, 5, 1), (1, 5, 0.5, 0.0), kind="number")),
    _rule("score", _h("score", None, (0, 100, 1), kind="integer")),
    _rule("percent|percentage|pct|discount|humidity|tip", _h("percent", None, (5, 95, 5), (5, 95, 0.5, 0.0),
                                                                kind="number")),
    _rule("heart_rate|bpm|pulse", _h("heart_rate", None, (55, 180, 1), kind="integer")),
    _rule("interest_rate|apr|tax_rate|rate|rates", _h("rate", None, (1, 10, 1), (1, 10, 0.25, 0.0), kind="number")),
    _rule("probability|confidence|threshold|ratio|weight_factor|alpha|temperature_param",
          _h("fraction", None, None, (0.1, 0.9, 0.1, 0.0), kind="number")),
    _rule("people|guests|passengers|adults|travelers|travellers|party(_size)?|seats|tickets|persons|participants|"
          "attendees|players|num_people|occupants", _h("people", None, (1, 6, 1), kind="integer")),
    _rule("children|kids|infants|pets", _h("children", None, (0, 3, 1), kind="integer")),
    _rule("rooms|bedrooms|bathrooms|floors", _h("rooms", None, (1, 4, 1), kind="integer")),
    _rule("nights|days|num_days|duration_days", _h("days", None, (1, 14, 1), kind="integer")),
    _rule("weeks", _h("weeks", None, (1, 8, 1), kind="integer")),
    _rule("months|num_months", _h("months", None, (1, 12, 1), kind="integer")),
    _rule("years|num_years|term", _h("years", None, (1, 10, 1), kind="integer")),
    _rule("hours|hour|duration_hours", _h("hours", None, (1, 12, 1), kind="integer")),
    _rule("minutes|minute|mins|duration|duration_minutes|max_minutes|cooking_time|prep_time",
          _h("minutes", None, (10, 120, 5), kind="integer")),
    _rule("seconds|secs|timeout|interval|delay", _h("seconds", None, (5, 60, 5), kind="integer")),
    _rule("temperature|temp", _h("temperature", None, (-10, 35, 1), (-10, 35, 0.5, 0.0), kind="number")),
    _rule("weight|mass", _h("weight", None, (1, 100, 1), (1, 100, 0.5, 0.0), kind="number")),
    _rule("height", _h("height", None, (150, 200, 1), kind="number")),
    _rule("length|width|depth", _h("length", None, (10, 200, 5), kind="number")),
    _rule("distance|radius|range|miles|km|kilometers|max_distance", _h("distance", None, (1, 50, 1), kind="number")),
    _rule("speed", _h("speed", None, (10, 120, 5), kind="number")),
    _rule("volume|brightness", _h("volume", None, (0, 100, 5), kind="integer")),
    _rule("zoom", _h("zoom", None, (1, 18, 1), kind="integer")),
    _rule("calories", _h("calories", None, (100, 800, 10), kind="integer")),
    _rule("steps", _h("steps", None, (1000, 15000, 500), kind="integer")),
    _rule("limit|max_results|top_k|top_n|page_size|per_page|results|num_results|max_items|k",
          _h("limit", None, (5, 50, 5), kind="integer")),
    _rule("page|page_number", _h("page", None, (1, 5, 1), kind="integer")),
    _rule("offset|skip", _h("offset", None, (0, 100, 10), kind="integer")),
    _rule("quantity|qty|count|num|number|number_of|items|copies|units_count|n|times|frequency",
          _h("quantity", None, (1, 10, 1), kind="integer")),
    _rule("customer|author|person|contact|recipient|sender|guest|patient|employee|owner|driver|passenger|"
          "attendee|member|client|traveler|traveller|user|^name$|full_name|fullname|doctor|teacher|student|"
          "manager|host_name|organizer|player|athlete|actor|director|writer|friend|assignee|reviewer",
          _h("person", lambda fk, rng, t: [f"{fk.first_name()} {fk.last_name()}"])),
]


def tokens(text: str) -> list[str]:
    """Lower-case word tokens of a parameter name or description (camelCase and snake_case split)."""
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


def singular(name: str) -> str:
    """``cities`` → ``city``, ``tags`` → ``tag``: the name of one item of an array parameter."""
    for plural, one in (("ies", "y"), ("sses", "ss"), ("xes", "x"), ("ches", "ch"), ("shes", "sh")):
        if name.endswith(plural) and len(name) > len(plural) + 1:
            return name[: -len(plural)] + one
    if name.endswith("s") and not name.endswith(("ss", "us", "is")) and len(name) > 3:
        return name[:-1]
    return name


def _skip_per(words: list[str]) -> list[str]:
    """Words without the one after ``per``/``each``/``every`` (``periods_per_year`` is no year)."""
    return [w for i, w in enumerate(words) if i == 0 or words[i - 1] not in ("per", "each", "every")]


def description_words(description: str) -> list[str]:
    """Content words of a description, without stop words and the word after ``per``/``each``
    (``compounded per year`` is no year)."""
    return [w for w in _skip_per(tokens(description)) if w not in _STOP and not w.isdigit()]


@lru_cache(maxsize=20_000)
def find_hint(name: str, description: str = "", json_type: str | None = None) -> Hint | None:
    """The first rule hint for ``name`` (then for the description's words) that can give a value
    of ``json_type`` (any type when None). The description is read from its first words on (its
    head noun comes first: "The time frame in years..." is a number of years, not a time)."""
    name_tokens = _skip_per(tokens(name))
    words = [w for w in description_words(description) if w not in GENERIC][:_DESCRIPTION_WORDS]
    texts = ["_".join(name_tokens)] + ["_".join(words[:i]) for i in range(1, len(words) + 1)]
    if set(name_tokens) <= GENERIC:  # "name", "value": the description says what it is
        texts = texts[1:] + texts[:1]
    for text in texts:
        if not text:
            continue
        for pattern, hint in RULES:
            if pattern.search(text) and _fits(hint, json_type):
                return hint
    return None


def _fits(hint: Hint, json_type: str | None) -> bool:
    if json_type in (None, "string"):
        return True  # numbers can be written as text
    if json_type == "integer":
        return hint.integer is not None or (hint.number is not None and hint.number[0] <= int(hint.number[1]))
    if json_type == "number":
        return hint.integer is not None or hint.number is not None
    return False


def noun_phrase(name: str, description: str, rng: Any) -> str:
    """A short noun phrase for a string no rule knows: an adjective and the name's (or the
    description's) words, e.g. ``material`` → ``"organic material"``."""
    words = [t for t in tokens(name) if t not in GENERIC and len(t) > 1]
    if not words:
        words = [t for t in description_words(description) if t not in GENERIC and t not in _FILLERS][:2]
    if not words:
        return rng.choice(PRODUCTS)
    return f"{rng.choice(ADJECTIVES)} {' '.join(words[-2:])}"


def _format_date(fk: Any, rng: Any, toks: list[str]) -> list[str]:
    birth = any(t in ("birth", "dob", "birthday", "born") for t in toks)
    return _date(1955, 2004)(fk, rng, toks) if birth else _date(2025, 2026)(fk, rng, toks)


def _format_time(fk: Any, rng: Any, toks: list[str]) -> list[str]:
    """``HH:MM:00`` first: ``FormatChecker()`` (what ``check_arguments`` uses) checks ``time`` with
    draft 3's ``%H:%M:%S`` and refuses an offset; RFC 3339 (draft 2020-12's own checker) needs one."""
    return _time(fk, rng, toks)[1:]


#: candidate strings for each known ``format`` (the first the schema accepts is used)
FORMAT_TEXTS: dict[str, Texts] = {
    "date": _format_date,
    "time": _format_time,
    "date-time": lambda fk, rng, t: [f"{_format_date(fk, rng, t)[0]}T{_time(fk, rng, t)[2]}"],
    "email": lambda fk, rng, t: [fk.email()],
    "idn-email": lambda fk, rng, t: [fk.email()],
    "uri": lambda fk, rng, t: [fk.url()],
    "url": lambda fk, rng, t: [fk.url()],
    "iri": lambda fk, rng, t: [fk.url()],
    "uri-reference": lambda fk, rng, t: [fk.url()],
    "uuid": lambda fk, rng, t: [fk.uuid4()],
    "ipv4": lambda fk, rng, t: [fk.ipv4_public()],
    "ipv6": lambda fk, rng, t: [fk.ipv6()],
    "hostname": lambda fk, rng, t: [fk.domain_name()],
    "idn-hostname": lambda fk, rng, t: [fk.domain_name()],
    "duration": _pick(["P3D", "PT2H", "PT30M", "P1W", "PT1H30M"]),
    "json-pointer": lambda fk, rng, t: ["/" + "/".join(fk.words(2))],
    "regex": lambda fk, rng, t: ["^[a-z]+$"],
    "phone": _phone,
}

_PAIRS = [("min", "max"), ("minimum", "maximum"), ("start", "end"), ("from", "to"), ("check_in", "check_out"),
          ("checkin", "checkout"), ("departure", "return"), ("earliest", "latest"), ("lower", "upper"),
          ("low", "high"), ("begin", "end")]


def in_order(values: dict[str, Any], accepts: Callable[[str, Any], bool]) -> dict[str, Any]:
    """Swap the values of a pair like ``min_price``/``max_price`` or ``start_date``/``end_date``
    when the first is larger (numbers, or ISO dates/times as text) and ``accepts(name, value)``
    allows both swapped values."""
    for first, second in _PAIRS:
        for name in values:
            other = "_".join(second if t == first else t for t in name.split("_"))
            if other == name or other not in values:
                continue
            a, b = values[name], values[other]
            comparable = (isinstance(a, (int, float)) and isinstance(b, (int, float))
                          and not isinstance(a, bool) and not isinstance(b, bool)) or \
                         (isinstance(a, str) and isinstance(b, str) and a[:1].isdigit() and b[:1].isdigit())
            if comparable and a > b and accepts(name, b) and accepts(other, a):
                values[name], values[other] = b, a
    return values
