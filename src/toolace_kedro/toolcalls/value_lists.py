"""Curated lists of real things the realism layer (:mod:`.value_hints`) draws argument values
from: cities, countries, currencies, tickers, titles... Short on purpose: a value a user would
plausibly type, never a fabricated name where a real one is easy to list."""

from __future__ import annotations

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
UNITS = {"temp": ["celsius", "fahrenheit"], "distance": ["km", "miles", "meters"], "length": ["cm", "inches", "meters"],
         "radius": ["cm", "meters", "km"], "weight": ["kg", "lb", "grams"], "mass": ["kg", "grams"],
         "volume": ["liters", "ml", "cups"], "cook": ["cups", "grams", "tablespoons"], "recipe": ["cups", "grams"],
         "speed": ["km/h", "mph"], "time": ["seconds", "minutes", "hours"], "": ["metric", "imperial"]}
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
MUSEUMS = ["Louvre Museum", "British Museum", "Museum of Modern Art", "Prado Museum", "Uffizi Gallery",
           "Rijksmuseum", "Metropolitan Museum of Art"]
GAMES = ["Minecraft", "The Legend of Zelda", "Fortnite", "Elden Ring", "Chess", "Tetris", "Stardew Valley"]
TECH_WORDS = ["web", "api", "prod", "staging", "data", "auth", "billing", "search"]
EVENTS = ["Team offsite", "Quarterly review", "Birthday party", "Jazz night", "Product launch", "Book club"]
