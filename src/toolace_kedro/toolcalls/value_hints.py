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
from typing import Any, Callable

__all__ = ["Hint", "RULES", "find_hint", "noun_phrase", "singular", "tokens"]

Texts = Callable[[Any, Any, list[str]], list[str]]  # (faker, rng, name tokens) -> candidate spellings


@dataclass(frozen=True)
class Hint:
    """Where realistic values of one kind of parameter come from."""

    label: str
    text: Texts | None = None
    integer: tuple[int, int, int] | None = None  # low, high, step
    number: tuple[float, float, float, float] | None = None  # low, high, step, tail (49.99 = 50 - 0.01)
    kind: str = "string"  # the JSON type when the schema names none


CITIES = [("Lisbon", "Portugal"), ("Warsaw", "Poland"), ("Osaka", "Japan"), ("Lima", "Peru"), ("Paris", "France"),
          ("Berlin", "Germany"), ("Madrid", "Spain"), ("Rome", "Italy"), ("London", "United Kingdom"),
          ("New York", "United States"), ("Chicago", "United States"), ("San Francisco", "United States"),
          ("Toronto", "Canada"), ("Mexico City", "Mexico"), ("Sao Paulo", "Brazil"), ("Buenos Aires", "Argentina"),
          ("Cairo", "Egypt"), ("Nairobi", "Kenya"), ("Cape Town", "South Africa"), ("Istanbul", "Turkey"),
          ("Dubai", "United Arab Emirates"), ("Mumbai", "India"), ("Bangkok", "Thailand"), ("Singapore", "Singapore"),
          ("Seoul", "South Korea"), ("Tokyo", "Japan"), ("Sydney", "Australia"), ("Auckland", "New Zealand"),
          ("Amsterdam", "Netherlands"), ("Vienna", "Austria"), ("Prague", "Czech Republic"), ("Dublin", "Ireland")]
COUNTRIES = [("France", "FR", "FRA"), ("Germany", "DE", "DEU"), ("Japan", "JP", "JPN"), ("Brazil", "BR", "BRA"),
             ("Canada", "CA", "CAN"), ("India", "IN", "IND"), ("Italy", "IT", "ITA"), ("Spain", "ES", "ESP"),
             ("Mexico", "MX", "MEX"), ("Kenya", "KE", "KEN"), ("Australia", "AU", "AUS"), ("Portugal", "PT", "PRT"),
             ("United States", "US", "USA"), ("United Kingdom", "GB", "GBR"), ("South Korea", "KR", "KOR"),
             ("Netherlands", "NL", "NLD"), ("Sweden", "SE", "SWE"), ("Egypt", "EG", "EGY"), ("Peru", "PE", "PER")]
STATES = [("California", "CA"), ("Texas", "TX"), ("New York", "NY"), ("Florida", "FL"), ("Washington", "WA"),
          ("Illinois", "IL"), ("Oregon", "OR"), ("Colorado", "CO"), ("Georgia", "GA"), ("Massachusetts", "MA")]
AIRPORTS = ["JFK", "LAX", "LHR", "CDG", "FRA", "AMS", "MAD", "LIS", "WAW", "HND", "KIX", "SIN", "DXB", "SYD",
            "ORD", "SFO", "YYZ", "GRU", "LIM", "IST"]
CURRENCIES = [("USD", "US dollar"), ("EUR", "euro"), ("GBP", "British pound"), ("JPY", "Japanese yen"),
              ("CHF", "Swiss franc"), ("CAD", "Canadian dollar"), ("AUD", "Australian dollar"), ("CNY", "Chinese yuan"),
              ("INR", "Indian rupee"), ("BRL", "Brazilian real"), ("MXN", "Mexican peso"), ("SEK", "Swedish krona")]
LANGUAGES = [("English", "en", "en-US"), ("French", "fr", "fr-FR"), ("Spanish", "es", "es-ES"),
             ("German", "de", "de-DE"), ("Japanese", "ja", "ja-JP"), ("Portuguese", "pt", "pt-BR"),
             ("Italian", "it", "it-IT"), ("Chinese", "zh", "zh-CN"), ("Korean", "ko", "ko-KR"), ("Polish", "pl", "pl-PL")]
TIMEZONES = ["Europe/Lisbon", "Europe/Paris", "America/New_York", "America/Los_Angeles", "Asia/Tokyo",
             "Asia/Singapore", "Australia/Sydney", "America/Sao_Paulo", "Africa/Nairobi", "UTC"]
TICKERS = ["AAPL", "MSFT", "GOOGL", "AMZN", "TSLA", "NVDA", "META", "JPM", "KO", "DIS", "NFLX", "IBM", "BRK.B"]
COLORS = ["red", "blue", "green", "black", "white", "navy", "beige", "gray", "yellow", "purple", "orange", "teal"]
UNITS = {"temp": ["celsius", "fahrenheit"], "distance": ["km", "miles"], "weight": ["kg", "lb"],
         "": ["metric", "imperial", "celsius", "km", "kg", "liters"]}
GENRES = ["jazz", "rock", "pop", "classical", "hip hop", "drama", "comedy", "thriller", "science fiction",
          "fantasy", "mystery", "documentary"]
TEAMS = ["Los Angeles Lakers", "Boston Celtics", "Golden State Warriors", "Real Madrid", "FC Barcelona",
         "Manchester United", "Liverpool FC", "New York Yankees", "Chicago Bulls", "Bayern Munich"]
SPORTS = ["soccer", "basketball", "tennis", "baseball", "cricket", "golf", "volleyball", "hockey"]
TITLES = ["The Great Gatsby", "Inception", "Bohemian Rhapsody", "Pride and Prejudice", "The Matrix",
          "Dune", "Abbey Road", "Spirited Away", "To Kill a Mockingbird", "Hotel California", "Interstellar"]
QUERIES = ["vegan lasagna recipe", "wireless headphones", "machine learning basics", "hiking boots",
           "cheap flights to Rome", "best pizza nearby", "electric cars 2025", "yoga for beginners",
           "python tutorial", "running shoes", "solar panels cost", "coffee grinder"]
TAGS = ["travel", "food", "music", "fitness", "tech", "finance", "outdoors", "family", "work", "health"]
MESSAGES = ["Running 10 minutes late, see you soon.", "Can we move the meeting to Friday?",
            "Thanks for the quick delivery!", "Please call me back when you can.", "The package arrived damaged.",
            "Happy birthday, have a great day!", "Is the table still available tonight?", "Great service, thank you."]
SUBJECTS = ["Meeting rescheduled to Friday", "Your order has shipped", "Invoice for March", "Quick question",
            "Weekly team update", "Reservation confirmed"]
PRODUCTS = ["wireless headphones", "running shoes", "coffee maker", "yoga mat", "laptop stand", "desk lamp",
            "water bottle", "backpack", "smartwatch", "air purifier"]
CATEGORIES = ["electronics", "books", "clothing", "home", "sports", "toys", "groceries", "beauty"]
CUISINES = ["Italian", "Japanese", "Mexican", "Indian", "Thai", "French", "Greek", "Korean"]
INGREDIENTS = ["tomato", "chicken", "basil", "garlic", "rice", "salmon", "spinach", "mushroom", "lemon", "tofu"]
DISHES = ["pad thai", "vegan lasagna", "chicken curry", "margherita pizza", "beef tacos", "miso soup"]
RESTAURANTS = ["Casa Lola", "The Golden Fork", "Sakura Sushi", "Trattoria Roma", "Blue Door Bistro", "Spice Route"]
HOTELS = ["Grand Plaza Hotel", "Hotel Lisboa", "Seaside Inn", "The Ritz", "Park Hyatt", "Riverside Lodge"]
ARTISTS = ["Taylor Swift", "The Beatles", "Miles Davis", "Adele", "Beyonce", "Coldplay", "Ed Sheeran"]
DEVICES = ["iPhone 15", "Pixel 8", "Galaxy S24", "MacBook Air", "iPad", "Kindle"]
PLATFORMS = ["iOS", "Android", "Windows", "macOS", "Linux", "web"]
STATUSES = ["active", "pending", "completed", "cancelled", "shipped"]
LEVELS = ["low", "medium", "high"]
SIZES = ["S", "M", "L", "XL"]
ADJECTIVES = ["classic", "modern", "premium", "organic", "compact", "seasonal", "local", "standard", "custom", "vintage"]
GENERIC = {"name", "value", "values", "type", "input", "data", "param", "parameter", "text", "string", "key",
           "item", "object", "info", "field", "arg", "args", "option", "options", "target", "source", "entity",
           "q", "x", "y", "s", "v", "val", "str"}
_STOP = {"the", "a", "an", "of", "to", "for", "in", "on", "at", "by", "with", "and", "or", "is", "be", "that",
         "this", "which", "from", "as", "e", "g", "eg", "optional", "required", "default", "specified", "given",
         "user", "users", "want", "wants", "should", "will", "can", "it", "its", "if", "not"}


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
    key = next((k for k in UNITS if k and any(t.startswith(k) for t in toks)), "")
    return [rng.choice(UNITS[key])]


def _address(fk: Any, rng: Any, toks: list[str]) -> list[str]:
    city, _ = rng.choice(CITIES)
    return [f"{fk.street_address()}, {city}", fk.street_address()]


def _phone(fk: Any, rng: Any, toks: list[str]) -> list[str]:
    number = f"{rng.randint(201, 989)}-555-{rng.randint(0, 9999):04d}"
    return [f"+1-{number}", number, number.replace("-", "")]


def _secret(fk: Any, rng: Any, toks: list[str]) -> list[str]:
    return ["".join(rng.choice(string.hexdigits[:16]) for _ in range(32))]


def _rule(words: str, hint: Hint) -> tuple[re.Pattern[str], Hint]:
    return re.compile(rf"(?:^|_)(?:{words})(?:_|$)"), hint


def _h(label: str, text: Texts | None = None, integer: tuple | None = None, number: tuple | None = None,
       kind: str = "string") -> Hint:
    return Hint(label, text, integer, number, kind)


_ID = Hint("id", _ident, (1000, 99999, 1))
EVENTS = ["Team offsite", "Quarterly review", "Birthday party", "Jazz night", "Product launch", "Book club"]

#: (whole-token regex over the ``_``-joined tokens, hint), most specific first
RULES: list[tuple[re.Pattern[str], Hint]] = [
    (re.compile(r"(?:^|_)(?:id|ids|identifier|uid|sku|isbn)$"), _ID),  # order_id, property_id: an id first
    _rule("e_?mail(s)?(_address)?", _h("email", lambda fk, rng, t: [fk.email()])),
    _rule("url|uri|link|website|homepage|webpage|endpoint|href|webhook",
          _h("url", lambda fk, rng, t: [fk.url() + rng.choice(["", "about", "products/42", "blog"])])),
    _rule("phone|telephone|mobile|tel|cell|fax|whatsapp", _h("phone", _phone)),
    _rule("ip|ip_address|ipv4", _h("ip", lambda fk, rng, t: [fk.ipv4_public()])),
    _rule("domain|hostname|host", _h("hostname", lambda fk, rng, t: [fk.domain_name()])),
    _rule("uuid|guid", _h("uuid", lambda fk, rng, t: [fk.uuid4()])),
    _rule("password|passcode|pin", _h("password", lambda fk, rng, t: [fk.password(length=12)])),
    _rule("token|api_key|secret|apikey|access_key", _h("secret", _secret)),
    _rule("first_name|firstname|given_name|forename", _h("first_name", lambda fk, rng, t: [fk.first_name()])),
    _rule("last_name|lastname|surname|family_name", _h("last_name", lambda fk, rng, t: [fk.last_name()])),
    _rule("username|user_name|login|handle|screen_name|nickname", _h("username", lambda fk, rng, t: [fk.user_name()])),
    _rule("file_?name|file|filename|attachment", _h("file", lambda fk, rng, t: [fk.file_name()])),
    _rule("path|directory|folder", _h("path", lambda fk, rng, t: [fk.file_path(depth=2)])),
    _rule("birth_?(date|day)?|dob|date_of_birth|birthday", _h("birth_date", _date(1955, 2004), (1955, 2004, 1))),
    _rule("date_?time|datetime|timestamp|created_at|updated_at|scheduled_at|start_at|end_at",
          _h("datetime", _datetime)),
    _rule("year|years?_published|release_year", _h("year", None, (1990, 2025, 1), kind="integer")),
    _rule("month", _h("month", _pick(["June", "March", "October", "January"]), (1, 12, 1))),
    _rule("weekday|day_of_week", _h("weekday", _pick(["Monday", "Wednesday", "Friday", "Saturday"]))),
    _rule("time|start_time|end_time|hour_of_day|clock", _h("time", _time)),
    _rule("date|day|check_?in|check_?out|checkin|checkout|start|end|deadline|due|since|until|arrival_date|"
          "departure_date|return_date|travel_date", _h("date", _date(2025, 2026), (1, 28, 1))),
    _rule("timezone|time_zone|tz", _h("timezone", _pick(TIMEZONES))),
    _rule("airport|iata|airport_code", _h("airport", _pick(AIRPORTS))),
    _rule("country(_code)?|nation|nationality", _h("country", _pick(COUNTRIES))),
    _rule("state|province|region", _h("state", _pick(STATES))),
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
    _rule("activity|activities|exercise|workout", _h("activity", _pick(["running", "cycling", "swimming", "yoga", "hiking"]))),
    _rule("sport|sports", _h("sport", _pick(SPORTS))),
    _rule("artist|band|singer|musician|composer", _h("artist", _pick(ARTISTS))),
    _rule("job_title|job|position|occupation|role|profession", _h("job", lambda fk, rng, t: [fk.job()])),
    _rule("company|companies|organization|organisation|employer|business|brand|vendor|supplier|manufacturer|"
          "publisher|merchant|store|shop", _h("company", lambda fk, rng, t: [fk.company()])),
    _rule("restaurant|cafe|bar", _h("restaurant", _pick(RESTAURANTS))),
    _rule("hotel|accommodation|property", _h("hotel", _pick(HOTELS))),
    _rule("event|events|meeting|occasion", _h("event", _pick(EVENTS))),
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
          _h("promo", lambda fk, rng, t: [rng.choice(["SAVE", "WELCOME", "SPRING", "VIP"]) + str(rng.choice([10, 15, 20]))])),
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
    _rule("quantity|qty|count|num|number_of|items|copies|units_count|n",
          _h("quantity", None, (1, 10, 1), kind="integer")),
    _rule("customer|author|person|contact|recipient|sender|guest|patient|employee|owner|driver|passenger|"
          "attendee|member|client|traveler|traveller|user|name|full_name|fullname|doctor|teacher|student|"
          "manager|host_name|organizer", _h("person", lambda fk, rng, t: [f"{fk.first_name()} {fk.last_name()}"])),
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


def find_hint(name: str, description: str = "", json_type: str | None = None) -> Hint | None:
    """The first rule hint for ``name`` (then for the description's words) that can give a value
    of ``json_type`` (any type when None)."""
    name_tokens = tokens(name)
    texts = ["_".join(name_tokens), "_".join(t for t in tokens(description) if t not in _STOP)]
    if set(name_tokens) <= GENERIC:  # "name", "value": the description says what it is
        texts.reverse()
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
    if json_type in ("integer", "number"):
        return hint.integer is not None or hint.number is not None
    return False


def noun_phrase(name: str, description: str, rng: Any) -> str:
    """A short noun phrase for a string no rule knows: an adjective and the name's (or the
    description's) words, e.g. ``material`` → ``"organic material"``."""
    words = [t for t in tokens(name) if t not in GENERIC and len(t) > 1]
    if not words:
        words = [t for t in tokens(description) if t not in _STOP and not t.isdigit()][:2]
    if not words:
        return rng.choice(PRODUCTS)
    return f"{rng.choice(ADJECTIVES)} {' '.join(words[-2:])}"
