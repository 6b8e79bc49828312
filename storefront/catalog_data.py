"""Demo catalog data for the Touchpoint storefront (stdlib-only, no app imports)."""

CATEGORIES: list[dict] = [
    {
        "slug": "kitchen",
        "name": "Kitchen",
        "description": "Durable cookware, knives and prep tools for everyday cooking.",
    },
    {
        "slug": "coffee-tea",
        "name": "Coffee & Tea",
        "description": "Grinders, kettles, brewers and mugs for a better morning cup.",
    },
    {
        "slug": "home-office",
        "name": "Home Office",
        "description": "Ergonomic gear and desk essentials for comfortable work at home.",
    },
    {
        "slug": "outdoor",
        "name": "Outdoor",
        "description": "Lightweight, weather-ready equipment for hiking and camping trips.",
    },
    {
        "slug": "audio",
        "name": "Audio",
        "description": "Headphones, speakers and recording gear with great sound.",
    },
    {
        "slug": "fitness",
        "name": "Fitness",
        "description": "Compact equipment for strength, mobility and cardio workouts at home.",
    },
    {
        "slug": "books",
        "name": "Books",
        "description": "Cookbooks, field guides and practical reads for curious minds.",
    },
    {
        "slug": "toys-games",
        "name": "Toys & Games",
        "description": "Building sets, puzzles and board games for all ages.",
    },
]

PRODUCTS: list[dict] = [
    # --- Kitchen -----------------------------------------------------------
    {
        "slug": "cast-iron-skillet-10-in",
        "sku": "KIT-0001",
        "title": "Cast-Iron Skillet 10 in",
        "description": (
            "A pre-seasoned cast-iron skillet that holds heat evenly for searing, "
            "frying and baking. Works on gas, electric, induction and campfires. "
            "The helper handle and pour spouts make it easy to move and drain."
        ),
        "category": "kitchen",
        "price": 3499,
        "compare_at_price": None,
        "stock": 64,
        "featured": True,
        "popularity": 88,
        "quality": 4.7,
        "created_days_ago": 210,
        "image": "cast-iron-skillet-10-in.svg",
    },
    {
        "slug": "silicone-oven-mitts-pair",
        "sku": "KIT-0002",
        "title": "Silicone Oven Mitts (Pair)",
        "description": (
            "Heat-resistant silicone mitts with a quilted cotton lining, rated to "
            "480 °F. The textured grip holds onto hot pans and baking sheets, and "
            "they rinse clean under the tap."
        ),
        "category": "kitchen",
        "price": 1899,
        "compare_at_price": None,
        "stock": 110,
        "featured": False,
        "popularity": 72,
        "quality": 4.3,
        "created_days_ago": 150,
        "image": "silicone-oven-mitts-pair.svg",
    },
    {
        "slug": "chefs-knife-8-in",
        "sku": "KIT-0003",
        "title": "Chef's Knife 8 in",
        "description": (
            "A forged high-carbon stainless steel chef's knife with a full tang and "
            "a 15-degree edge. The contoured pakkawood handle stays comfortable "
            "through long prep sessions."
        ),
        "category": "kitchen",
        "price": 7999,
        "compare_at_price": 9999,
        "stock": 38,
        "featured": False,
        "popularity": 81,
        "quality": 4.6,
        "created_days_ago": 95,
        "image": "chefs-knife-8-in.svg",
    },
    {
        "slug": "end-grain-walnut-cutting-board",
        "sku": "KIT-0004",
        "title": "End-Grain Walnut Cutting Board",
        "description": (
            "Solid black walnut arranged end-grain up, which is gentle on knife "
            "edges and hides cut marks. A juice groove catches drips, and rubber "
            "feet keep the board from sliding on the counter."
        ),
        "category": "kitchen",
        "price": 6499,
        "compare_at_price": None,
        "stock": 22,
        "featured": False,
        "popularity": 54,
        "quality": 4.5,
        "created_days_ago": 300,
        "image": "end-grain-walnut-cutting-board.svg",
    },
    {
        "slug": "enameled-dutch-oven-5-qt",
        "sku": "KIT-0005",
        "title": "Enameled Dutch Oven 5.5 qt",
        "description": (
            "Enameled cast iron with a tight-fitting lid for braises, stews and "
            "crusty no-knead bread. The light interior enamel makes it easy to "
            "watch browning, and it is oven-safe to 500 °F."
        ),
        "category": "kitchen",
        "price": 14900,
        "compare_at_price": 17900,
        "stock": 0,
        "featured": False,
        "popularity": 63,
        "quality": 4.8,
        "created_days_ago": 42,
        "image": "enameled-dutch-oven-5-qt.svg",
    },
    {
        "slug": "stainless-mixing-bowl-set",
        "sku": "KIT-0006",
        "title": "Stainless Steel Mixing Bowl Set",
        "description": (
            "Five nesting stainless steel bowls with non-slip silicone bases and "
            "snap-on lids. Measurement markings inside help with quick batters "
            "and marinades."
        ),
        "category": "kitchen",
        "price": 2999,
        "compare_at_price": None,
        "stock": 90,
        "featured": False,
        "popularity": 47,
        "quality": 4.1,
        "created_days_ago": 365,
        "image": "stainless-mixing-bowl-set.svg",
    },
    # --- Coffee & Tea ------------------------------------------------------
    {
        "slug": "ceramic-pour-over-dripper",
        "sku": "COF-0001",
        "title": "Ceramic Pour-Over Dripper",
        "description": (
            "A glazed porcelain cone dripper with spiral ribs for an even "
            "extraction. Brews one to three cups directly into a mug or carafe "
            "and uses standard #2 paper filters."
        ),
        "category": "coffee-tea",
        "price": 2499,
        "compare_at_price": None,
        "stock": 75,
        "featured": True,
        "popularity": 79,
        "quality": 4.6,
        "created_days_ago": 120,
        "image": "ceramic-pour-over-dripper.svg",
    },
    {
        "slug": "gooseneck-electric-kettle",
        "sku": "COF-0002",
        "title": "Gooseneck Electric Kettle",
        "description": (
            "A stainless steel gooseneck kettle with precise temperature control "
            "from 140 to 212 °F. The slim spout gives a steady pour for "
            "pour-over coffee, and a hold mode keeps water warm for an hour."
        ),
        "category": "coffee-tea",
        "price": 6999,
        "compare_at_price": 8499,
        "stock": 40,
        "featured": False,
        "popularity": 74,
        "quality": 4.5,
        "created_days_ago": 60,
        "image": "gooseneck-electric-kettle.svg",
    },
    {
        "slug": "conical-burr-coffee-grinder",
        "sku": "COF-0003",
        "title": "Conical Burr Coffee Grinder",
        "description": (
            "Steel conical burrs deliver a consistent grind across 40 settings, "
            "from fine espresso to coarse French press. The low-speed motor keeps "
            "beans cool and quiet."
        ),
        "category": "coffee-tea",
        "price": 12900,
        "compare_at_price": None,
        "stock": 2,
        "featured": False,
        "popularity": 85,
        "quality": 4.4,
        "created_days_ago": 180,
        "image": "conical-burr-coffee-grinder.svg",
    },
    {
        "slug": "unbleached-paper-filters-100",
        "sku": "COF-0004",
        "title": "Unbleached Paper Filters (100 ct)",
        "description": (
            "Chlorine-free, unbleached paper filters sized for cone drippers. "
            "The crepe texture speeds up drawdown and produces a clean, "
            "sediment-free cup."
        ),
        "category": "coffee-tea",
        "price": 699,
        "compare_at_price": None,
        "stock": 120,
        "featured": False,
        "popularity": 66,
        "quality": 4.2,
        "created_days_ago": 390,
        "image": "unbleached-paper-filters-100.svg",
    },
    {
        "slug": "loose-leaf-tea-sampler",
        "sku": "COF-0005",
        "title": "Loose-Leaf Tea Sampler",
        "description": (
            "Six organic loose-leaf teas in resealable tins: sencha, jasmine "
            "green, Assam, Earl Grey, rooibos and chamomile. Each tin brews about "
            "fifteen cups."
        ),
        "category": "coffee-tea",
        "price": 2299,
        "compare_at_price": None,
        "stock": 55,
        "featured": False,
        "popularity": 41,
        "quality": 4.0,
        "created_days_ago": 25,
        "image": "loose-leaf-tea-sampler.svg",
    },
    {
        "slug": "double-wall-glass-mugs",
        "sku": "COF-0006",
        "title": "Double-Wall Glass Mugs (Set of 2)",
        "description": (
            "Hand-blown borosilicate glass mugs with an insulating double wall "
            "that keeps drinks hot and hands cool. Each holds 12 oz and is "
            "dishwasher safe."
        ),
        "category": "coffee-tea",
        "price": 2799,
        "compare_at_price": None,
        "stock": 68,
        "featured": False,
        "popularity": 52,
        "quality": 3.9,
        "created_days_ago": 140,
        "image": "double-wall-glass-mugs.svg",
    },
    # --- Home Office -------------------------------------------------------
    {
        "slug": "adjustable-aluminum-laptop-stand",
        "sku": "OFF-0001",
        "title": "Adjustable Aluminum Laptop Stand",
        "description": (
            "A machined aluminum stand that raises your screen to eye level with "
            "six height positions. Silicone pads protect the laptop, and it folds "
            "flat to fit in a backpack."
        ),
        "category": "home-office",
        "price": 4499,
        "compare_at_price": None,
        "stock": 57,
        "featured": True,
        "popularity": 77,
        "quality": 4.5,
        "created_days_ago": 88,
        "image": "adjustable-aluminum-laptop-stand.svg",
    },
    {
        "slug": "tenkeyless-mechanical-keyboard",
        "sku": "OFF-0002",
        "title": "Tenkeyless Mechanical Keyboard",
        "description": (
            "A compact tenkeyless keyboard with hot-swappable tactile switches, "
            "PBT keycaps and a detachable USB-C cable. Connects over Bluetooth to "
            "up to three devices."
        ),
        "category": "home-office",
        "price": 9999,
        "compare_at_price": 12900,
        "stock": 31,
        "featured": False,
        "popularity": 70,
        "quality": 4.4,
        "created_days_ago": 35,
        "image": "tenkeyless-mechanical-keyboard.svg",
    },
    {
        "slug": "ergonomic-wireless-mouse",
        "sku": "OFF-0003",
        "title": "Ergonomic Wireless Mouse",
        "description": (
            "A sculpted vertical mouse that keeps your wrist in a natural "
            "handshake position. It has silent buttons, adjustable DPI and a "
            "rechargeable battery that lasts about two months."
        ),
        "category": "home-office",
        "price": 3999,
        "compare_at_price": None,
        "stock": 84,
        "featured": False,
        "popularity": 68,
        "quality": 4.2,
        "created_days_ago": 200,
        "image": "ergonomic-wireless-mouse.svg",
    },
    {
        "slug": "wool-felt-desk-mat",
        "sku": "OFF-0004",
        "title": "Wool Felt Desk Mat",
        "description": (
            "A thick merino wool felt mat with a cork backing that protects your "
            "desk and dampens keyboard noise. Large enough for a keyboard, mouse "
            "and notebook side by side."
        ),
        "category": "home-office",
        "price": 3299,
        "compare_at_price": None,
        "stock": 46,
        "featured": False,
        "popularity": 44,
        "quality": 4.3,
        "created_days_ago": 260,
        "image": "wool-felt-desk-mat.svg",
    },
    {
        "slug": "dimmable-led-desk-lamp",
        "sku": "OFF-0005",
        "title": "Dimmable LED Desk Lamp",
        "description": (
            "A flicker-free LED lamp with five color temperatures and stepless "
            "dimming. The weighted steel base and articulated arm put light "
            "exactly where you need it, and a USB port charges your phone."
        ),
        "category": "home-office",
        "price": 5499,
        "compare_at_price": None,
        "stock": 0,
        "featured": False,
        "popularity": 58,
        "quality": 4.1,
        "created_days_ago": 150,
        "image": "dimmable-led-desk-lamp.svg",
    },
    {
        "slug": "dot-grid-notebook-a5",
        "sku": "OFF-0006",
        "title": "Dot-Grid Notebook A5",
        "description": (
            "A lay-flat A5 notebook with 192 pages of fountain-pen-friendly "
            "100 gsm paper. It has a linen hardcover, numbered pages and two "
            "ribbon bookmarks."
        ),
        "category": "home-office",
        "price": 1499,
        "compare_at_price": None,
        "stock": 115,
        "featured": False,
        "popularity": 62,
        "quality": 4.6,
        "created_days_ago": 330,
        "image": "dot-grid-notebook-a5.svg",
    },
    # --- Outdoor -----------------------------------------------------------
    {
        "slug": "insulated-water-bottle-32-oz",
        "sku": "OUT-0001",
        "title": "Insulated Water Bottle 32 oz",
        "description": (
            "A vacuum-insulated stainless steel bottle that keeps water cold for "
            "24 hours or coffee hot for 12. The powder-coated finish resists "
            "sweat and scratches, and the leakproof cap has a carry loop."
        ),
        "category": "outdoor",
        "price": 2999,
        "compare_at_price": None,
        "stock": 100,
        "featured": True,
        "popularity": 83,
        "quality": 4.6,
        "created_days_ago": 70,
        "image": "insulated-water-bottle-32-oz.svg",
    },
    {
        "slug": "ultralight-camping-hammock",
        "sku": "OUT-0002",
        "title": "Ultralight Camping Hammock",
        "description": (
            "A ripstop nylon hammock that packs down to the size of a grapefruit "
            "and supports up to 400 lb. Tree-friendly polyester straps and "
            "aluminum carabiners are included."
        ),
        "category": "outdoor",
        "price": 5999,
        "compare_at_price": 7499,
        "stock": 27,
        "featured": False,
        "popularity": 49,
        "quality": 4.3,
        "created_days_ago": 110,
        "image": "ultralight-camping-hammock.svg",
    },
    {
        "slug": "carbon-trekking-poles-pair",
        "sku": "OUT-0003",
        "title": "Carbon Trekking Poles (Pair)",
        "description": (
            "Carbon fiber trekking poles with quick-lock adjustment and cork "
            "grips that wick sweat. Tungsten tips and removable rubber feet "
            "handle rock, dirt and pavement."
        ),
        "category": "outdoor",
        "price": 8999,
        "compare_at_price": None,
        "stock": 18,
        "featured": False,
        "popularity": 39,
        "quality": 4.2,
        "created_days_ago": 240,
        "image": "carbon-trekking-poles-pair.svg",
    },
    {
        "slug": "rechargeable-led-headlamp",
        "sku": "OUT-0004",
        "title": "Rechargeable LED Headlamp",
        "description": (
            "A 400-lumen headlamp with spot, flood and red night-vision modes. "
            "It charges over USB-C, is rated IPX4 against rain, and the "
            "adjustable strap stays put while running."
        ),
        "category": "outdoor",
        "price": 3499,
        "compare_at_price": None,
        "stock": 62,
        "featured": False,
        "popularity": 64,
        "quality": 4.0,
        "created_days_ago": 55,
        "image": "rechargeable-led-headlamp.svg",
    },
    {
        "slug": "packable-rain-jacket",
        "sku": "OUT-0005",
        "title": "Packable Rain Jacket",
        "description": (
            "A waterproof, breathable 2.5-layer shell with fully taped seams and "
            "pit zips for venting. It stuffs into its own chest pocket for easy "
            "carrying."
        ),
        "category": "outdoor",
        "price": 11900,
        "compare_at_price": None,
        "stock": 3,
        "featured": False,
        "popularity": 57,
        "quality": 3.8,
        "created_days_ago": 15,
        "image": "packable-rain-jacket.svg",
    },
    {
        "slug": "compact-backpacking-stove",
        "sku": "OUT-0006",
        "title": "Compact Backpacking Stove",
        "description": (
            "A titanium canister stove weighing just 3 oz that boils a liter of "
            "water in about four minutes. Folding pot supports and a piezo "
            "igniter make it quick to set up."
        ),
        "category": "outdoor",
        "price": 4999,
        "compare_at_price": None,
        "stock": 35,
        "featured": False,
        "popularity": 45,
        "quality": 4.4,
        "created_days_ago": 280,
        "image": "compact-backpacking-stove.svg",
    },
    # --- Audio -------------------------------------------------------------
    {
        "slug": "wireless-noise-cancelling-headphones",
        "sku": "AUD-0001",
        "title": "Wireless Noise-Cancelling Headphones",
        "description": (
            "Over-ear Bluetooth headphones with adaptive active noise cancelling "
            "and 30 hours of battery life. Memory-foam ear cushions and a padded "
            "headband stay comfortable on long flights."
        ),
        "category": "audio",
        "price": 19900,
        "compare_at_price": 24900,
        "stock": 29,
        "featured": True,
        "popularity": 92,
        "quality": 4.5,
        "created_days_ago": 45,
        "image": "wireless-noise-cancelling-headphones.svg",
    },
    {
        "slug": "portable-bluetooth-speaker",
        "sku": "AUD-0002",
        "title": "Portable Bluetooth Speaker",
        "description": (
            "A rugged, waterproof speaker with dual passive radiators for "
            "surprisingly deep bass. The fabric-wrapped body floats in water, and "
            "the battery plays for 16 hours."
        ),
        "category": "audio",
        "price": 7999,
        "compare_at_price": None,
        "stock": 53,
        "featured": False,
        "popularity": 76,
        "quality": 4.3,
        "created_days_ago": 130,
        "image": "portable-bluetooth-speaker.svg",
    },
    {
        "slug": "true-wireless-earbuds",
        "sku": "AUD-0003",
        "title": "True Wireless Earbuds",
        "description": (
            "Compact earbuds with a pocketable wireless charging case and touch "
            "controls. Sweat-resistant silicone tips come in three sizes for a "
            "secure fit during workouts."
        ),
        "category": "audio",
        "price": 8999,
        "compare_at_price": None,
        "stock": 71,
        "featured": False,
        "popularity": 86,
        "quality": 3.9,
        "created_days_ago": 20,
        "image": "true-wireless-earbuds.svg",
    },
    {
        "slug": "usb-condenser-microphone",
        "sku": "AUD-0004",
        "title": "USB Condenser Microphone",
        "description": (
            "A cardioid condenser microphone for podcasts, streaming and video "
            "calls. It plugs in over USB-C and has a zero-latency headphone "
            "jack, a gain knob and a sturdy metal desk stand."
        ),
        "category": "audio",
        "price": 10900,
        "compare_at_price": None,
        "stock": 24,
        "featured": False,
        "popularity": 51,
        "quality": 4.4,
        "created_days_ago": 190,
        "image": "usb-condenser-microphone.svg",
    },
    {
        "slug": "belt-drive-turntable",
        "sku": "AUD-0005",
        "title": "Belt-Drive Turntable",
        "description": (
            "A belt-drive record player with an aluminum platter, a pre-mounted "
            "moving-magnet cartridge and a built-in switchable phono preamp. The "
            "MDF plinth is finished in walnut veneer."
        ),
        "category": "audio",
        "price": 24900,
        "compare_at_price": None,
        "stock": 8,
        "featured": False,
        "popularity": 33,
        "quality": 4.7,
        "created_days_ago": 350,
        "image": "belt-drive-turntable.svg",
    },
    {
        "slug": "walnut-headphone-stand",
        "sku": "AUD-0006",
        "title": "Walnut Headphone Stand",
        "description": (
            "A solid walnut headphone stand with a weighted steel base and a "
            "felt-lined cradle that protects the headband. It keeps your desk "
            "tidy and your headphones within reach."
        ),
        "category": "audio",
        "price": 2999,
        "compare_at_price": None,
        "stock": 0,
        "featured": False,
        "popularity": 28,
        "quality": 4.5,
        "created_days_ago": 220,
        "image": "walnut-headphone-stand.svg",
    },
    # --- Fitness -----------------------------------------------------------
    {
        "slug": "cork-yoga-mat-5-mm",
        "sku": "FIT-0001",
        "title": "Cork Yoga Mat 5 mm",
        "description": (
            "A natural cork surface bonded to a natural rubber base that grips "
            "better as you sweat. Cork is naturally antimicrobial, and the mat "
            "rolls up with a cotton carrying strap."
        ),
        "category": "fitness",
        "price": 6999,
        "compare_at_price": None,
        "stock": 42,
        "featured": True,
        "popularity": 69,
        "quality": 4.6,
        "created_days_ago": 100,
        "image": "cork-yoga-mat-5-mm.svg",
    },
    {
        "slug": "adjustable-dumbbells-pair",
        "sku": "FIT-0002",
        "title": "Adjustable Dumbbells (Pair)",
        "description": (
            "Dial-select dumbbells that adjust from 5 to 52.5 lb in seconds, "
            "replacing fifteen pairs of weights. Steel plates are molded in "
            "durable plastic to protect floors."
        ),
        "category": "fitness",
        "price": 22900,
        "compare_at_price": 24900,
        "stock": 12,
        "featured": False,
        "popularity": 60,
        "quality": 4.4,
        "created_days_ago": 75,
        "image": "adjustable-dumbbells-pair.svg",
    },
    {
        "slug": "resistance-band-set",
        "sku": "FIT-0003",
        "title": "Resistance Band Set",
        "description": (
            "Five latex-free fabric resistance bands from light to extra heavy, "
            "with a door anchor and padded handles. They pack into a small mesh "
            "bag for travel workouts."
        ),
        "category": "fitness",
        "price": 2499,
        "compare_at_price": None,
        "stock": 96,
        "featured": False,
        "popularity": 73,
        "quality": 4.1,
        "created_days_ago": 160,
        "image": "resistance-band-set.svg",
    },
    {
        "slug": "high-density-foam-roller-18-in",
        "sku": "FIT-0004",
        "title": "High-Density Foam Roller 18 in",
        "description": (
            "A firm EPP foam roller for post-workout recovery and myofascial "
            "release. The closed-cell foam will not lose its shape, and the "
            "textured surface targets tight muscles."
        ),
        "category": "fitness",
        "price": 2299,
        "compare_at_price": None,
        "stock": 80,
        "featured": False,
        "popularity": 55,
        "quality": 4.3,
        "created_days_ago": 310,
        "image": "high-density-foam-roller-18-in.svg",
    },
    {
        "slug": "speed-jump-rope",
        "sku": "FIT-0005",
        "title": "Speed Jump Rope",
        "description": (
            "A steel-cable jump rope with ball-bearing handles for smooth, fast "
            "rotations. The length adjusts without tools, and the cable is "
            "PVC-coated for indoor use."
        ),
        "category": "fitness",
        "price": 1299,
        "compare_at_price": 1699,
        "stock": 105,
        "featured": False,
        "popularity": 50,
        "quality": 3.7,
        "created_days_ago": 12,
        "image": "speed-jump-rope.svg",
    },
    {
        "slug": "cork-yoga-blocks-pair",
        "sku": "FIT-0006",
        "title": "Cork Yoga Blocks (Pair)",
        "description": (
            "Dense, sustainably harvested cork blocks with rounded edges for "
            "support in balancing and stretching poses. They are heavier and "
            "more stable than foam blocks."
        ),
        "category": "fitness",
        "price": 2799,
        "compare_at_price": None,
        "stock": 1,
        "featured": False,
        "popularity": 46,
        "quality": 4.5,
        "created_days_ago": 100,
        "image": "cork-yoga-blocks-pair.svg",
    },
    # --- Books -------------------------------------------------------------
    {
        "slug": "field-guide-north-american-birds",
        "sku": "BOK-0001",
        "title": "Field Guide to North American Birds",
        "description": (
            "A pocket-sized paperback field guide covering more than 800 species "
            "with hand-painted illustrations and range maps. Tabs by bird family "
            "make identification quick on the trail."
        ),
        "category": "books",
        "price": 2499,
        "compare_at_price": None,
        "stock": 33,
        "featured": False,
        "popularity": 42,
        "quality": 4.8,
        "created_days_ago": 270,
        "image": "field-guide-north-american-birds.svg",
    },
    {
        "slug": "weeknight-kitchen-cookbook",
        "sku": "BOK-0002",
        "title": "The Weeknight Kitchen Cookbook",
        "description": (
            "A hardcover cookbook of 120 recipes that come together in 30 "
            "minutes or less, many made in a single skillet or sheet pan. Each "
            "recipe has a full-color photo and make-ahead tips."
        ),
        "category": "books",
        "price": 3299,
        "compare_at_price": None,
        "stock": 47,
        "featured": True,
        "popularity": 67,
        "quality": 4.5,
        "created_days_ago": 30,
        "image": "weeknight-kitchen-cookbook.svg",
    },
    {
        "slug": "coffee-brewing-handbook",
        "sku": "BOK-0003",
        "title": "The Coffee Brewing Handbook",
        "description": (
            "A practical guide to brewing better coffee at home, from grind size "
            "and water chemistry to pour-over, French press and espresso. "
            "Illustrated diagrams explain each method step by step."
        ),
        "category": "books",
        "price": 2199,
        "compare_at_price": None,
        "stock": 39,
        "featured": False,
        "popularity": 38,
        "quality": 4.2,
        "created_days_ago": 170,
        "image": "coffee-brewing-handbook.svg",
    },
    {
        "slug": "quiet-hours-working-with-focus",
        "sku": "BOK-0004",
        "title": "Quiet Hours: Working With Focus",
        "description": (
            "An essay collection on attention, deep work and building calmer "
            "routines in a distracted world. The paperback includes short "
            "exercises at the end of each chapter."
        ),
        "category": "books",
        "price": 1899,
        "compare_at_price": None,
        "stock": 58,
        "featured": False,
        "popularity": 53,
        "quality": 3.6,
        "created_days_ago": 400,
        "image": "quiet-hours-working-with-focus.svg",
    },
    {
        "slug": "trail-atlas-national-parks",
        "sku": "BOK-0005",
        "title": "Trail Atlas of the National Parks",
        "description": (
            "A large-format hardcover atlas with topographic maps of 150 day "
            "hikes across the national parks. Each trail lists distance, "
            "elevation gain and the best season to go."
        ),
        "category": "books",
        "price": 3999,
        "compare_at_price": 4999,
        "stock": 21,
        "featured": False,
        "popularity": 35,
        "quality": 4.6,
        "created_days_ago": 85,
        "image": "trail-atlas-national-parks.svg",
    },
    {
        "slug": "strength-training-primer",
        "sku": "BOK-0006",
        "title": "The Strength Training Primer",
        "description": (
            "A beginner-friendly paperback on lifting with dumbbells, bands and "
            "body weight. It includes twelve-week programs, form checklists and "
            "photo sequences for every exercise."
        ),
        "category": "books",
        "price": 1999,
        "compare_at_price": None,
        "stock": 44,
        "featured": False,
        "popularity": 40,
        "quality": 3.4,
        "created_days_ago": 230,
        "image": "strength-training-primer.svg",
    },
    # --- Toys & Games ------------------------------------------------------
    {
        "slug": "wooden-building-blocks-100",
        "sku": "TOY-0001",
        "title": "Wooden Building Blocks (100 pc)",
        "description": (
            "A hundred smooth beechwood blocks in classic shapes, finished with "
            "non-toxic water-based paint. They come in a sturdy wooden crate "
            "that doubles as storage."
        ),
        "category": "toys-games",
        "price": 4499,
        "compare_at_price": None,
        "stock": 52,
        "featured": True,
        "popularity": 71,
        "quality": 4.7,
        "created_days_ago": 190,
        "image": "wooden-building-blocks-100.svg",
    },
    {
        "slug": "harbor-lights-strategy-game",
        "sku": "TOY-0002",
        "title": "Harbor Lights Strategy Board Game",
        "description": (
            "A strategy board game for two to five players about building "
            "lighthouses and trading routes along a rocky coast. Games last about "
            "an hour and include wooden pieces and a modular board."
        ),
        "category": "toys-games",
        "price": 3999,
        "compare_at_price": 4999,
        "stock": 36,
        "featured": False,
        "popularity": 65,
        "quality": 4.4,
        "created_days_ago": 50,
        "image": "harbor-lights-strategy-game.svg",
    },
    {
        "slug": "mountain-lake-jigsaw-puzzle-1000",
        "sku": "TOY-0003",
        "title": "Mountain Lake Jigsaw Puzzle 1000 pc",
        "description": (
            "A 1000-piece jigsaw puzzle of an alpine lake at sunrise, printed on "
            "thick recycled board with a linen finish to reduce glare. A reference "
            "poster is included."
        ),
        "category": "toys-games",
        "price": 1999,
        "compare_at_price": None,
        "stock": 77,
        "featured": False,
        "popularity": 59,
        "quality": 4.0,
        "created_days_ago": 140,
        "image": "mountain-lake-jigsaw-puzzle-1000.svg",
    },
    {
        "slug": "magnetic-building-tiles-60",
        "sku": "TOY-0004",
        "title": "Magnetic Building Tiles (60 pc)",
        "description": (
            "Translucent magnetic tiles in squares and triangles that click "
            "together into towers, houses and rockets. Riveted edges and "
            "food-grade ABS plastic make them safe for small hands."
        ),
        "category": "toys-games",
        "price": 5999,
        "compare_at_price": None,
        "stock": 25,
        "featured": False,
        "popularity": 61,
        "quality": 4.5,
        "created_days_ago": 8,
        "image": "magnetic-building-tiles-60.svg",
    },
    {
        "slug": "linen-playing-cards-2-pack",
        "sku": "TOY-0005",
        "title": "Linen-Finish Playing Cards (2 Pack)",
        "description": (
            "Two decks of casino-quality playing cards with an air-cushion linen "
            "finish for smooth shuffling. The plastic-coated stock resists bends "
            "and spills."
        ),
        "category": "toys-games",
        "price": 999,
        "compare_at_price": None,
        "stock": 118,
        "featured": False,
        "popularity": 48,
        "quality": 4.1,
        "created_days_ago": 380,
        "image": "linen-playing-cards-2-pack.svg",
    },
    {
        "slug": "rainbow-delta-kite",
        "sku": "TOY-0006",
        "title": "Rainbow Delta Kite",
        "description": (
            "A ripstop polyester delta kite with a fiberglass frame that launches "
            "easily in light wind. It comes with 200 ft of line on a handle "
            "winder and a long rainbow tail."
        ),
        "category": "toys-games",
        "price": 2499,
        "compare_at_price": None,
        "stock": 30,
        "featured": False,
        "popularity": 30,
        "quality": 3.2,
        "created_days_ago": 5,
        "image": "rainbow-delta-kite.svg",
    },
]

BOUGHT_TOGETHER: list[tuple[str, str]] = [
    ("cast-iron-skillet-10-in", "silicone-oven-mitts-pair"),
    ("cast-iron-skillet-10-in", "weeknight-kitchen-cookbook"),
    ("chefs-knife-8-in", "end-grain-walnut-cutting-board"),
    ("enameled-dutch-oven-5-qt", "silicone-oven-mitts-pair"),
    ("stainless-mixing-bowl-set", "weeknight-kitchen-cookbook"),
    ("ceramic-pour-over-dripper", "unbleached-paper-filters-100"),
    ("ceramic-pour-over-dripper", "gooseneck-electric-kettle"),
    ("conical-burr-coffee-grinder", "ceramic-pour-over-dripper"),
    ("conical-burr-coffee-grinder", "coffee-brewing-handbook"),
    ("loose-leaf-tea-sampler", "double-wall-glass-mugs"),
    ("adjustable-aluminum-laptop-stand", "tenkeyless-mechanical-keyboard"),
    ("tenkeyless-mechanical-keyboard", "ergonomic-wireless-mouse"),
    ("ergonomic-wireless-mouse", "wool-felt-desk-mat"),
    ("dimmable-led-desk-lamp", "dot-grid-notebook-a5"),
    ("insulated-water-bottle-32-oz", "carbon-trekking-poles-pair"),
    ("ultralight-camping-hammock", "rechargeable-led-headlamp"),
    ("compact-backpacking-stove", "rechargeable-led-headlamp"),
    ("packable-rain-jacket", "trail-atlas-national-parks"),
    ("wireless-noise-cancelling-headphones", "walnut-headphone-stand"),
    ("cork-yoga-mat-5-mm", "cork-yoga-blocks-pair"),
    ("adjustable-dumbbells-pair", "strength-training-primer"),
    ("resistance-band-set", "high-density-foam-roller-18-in"),
    ("wooden-building-blocks-100", "magnetic-building-tiles-60"),
    ("harbor-lights-strategy-game", "linen-playing-cards-2-pack"),
]

REVIEW_TEXTS: dict[int, list[tuple[str, str]]] = {
    1: [
        ("Very disappointed", "It stopped working properly within the first week."),
        (
            "Not as described",
            "The product looked nothing like the photos and felt cheaply made.",
        ),
        ("Returned it", "Quality was far below what I expected for the price."),
        ("Would not buy again", "Arrived damaged and the replacement had the same flaw."),
        ("Waste of money", "I tried to make it work but ended up throwing it out."),
        ("Poor quality", "Parts came loose almost immediately after I started using it."),
        (
            "Save your money",
            "There are much better options out there for the same price.",
        ),
        ("Didn't last", "Worked fine for a few days and then fell apart."),
    ],
    2: [
        ("Below expectations", "It does the job, but only barely, and it feels flimsy."),
        ("Meh", "Not terrible, but I wouldn't recommend it to a friend."),
        (
            "Some issues",
            "The design is nice, but the build quality leaves a lot to be desired.",
        ),
        ("Okay at best", "It works, but I had to fiddle with it more than I'd like."),
        ("Overpriced", "Fine for occasional use, but not worth what I paid."),
        (
            "Could be better",
            "A couple of small problems add up to a frustrating experience.",
        ),
        ("Not for me", "It just didn't fit how I planned to use it."),
        ("Mixed feelings", "Looks great out of the box, but the finish wore quickly."),
    ],
    3: [
        ("It's fine", "Does what it says, nothing more and nothing less."),
        ("Decent for the price", "A solid middle-of-the-road option with a few quirks."),
        ("Average", "Works as expected, though I've seen better finishing on similar items."),
        ("Good enough", "It gets the job done, and I'd probably buy it again on sale."),
        ("Not bad", "A few small annoyances, but overall I'm keeping it."),
        ("Okay product", "Nothing special, but it hasn't let me down either."),
        (
            "Three stars",
            "Pretty good overall, though the instructions could be clearer.",
        ),
        ("Serviceable", "Does the basics well; just don't expect anything fancy."),
    ],
    4: [
        ("Really nice", "Well made and easy to use, with only a minor nitpick or two."),
        ("Happy with it", "Good quality for the price and it arrived quickly."),
        ("Solid purchase", "It has held up well so far and looks great."),
        ("Would recommend", "I use it almost every day and it works reliably."),
        ("Great value", "Feels sturdier than I expected at this price point."),
        ("Very good", "Exactly what I needed; I'd give five stars with better packaging."),
        ("Pleasant surprise", "Better than I expected, and my family likes it too."),
        ("Works well", "Does its job well and has a thoughtful design."),
    ],
    5: [
        ("Absolutely love it", "Beautifully made and works perfectly, worth every penny."),
        ("Exceeded expectations", "The quality is outstanding and it arrived well packed."),
        ("Best purchase this year", "I use it every day and it still feels brand new."),
        ("Perfect", "Exactly as described, and it looks even better in person."),
        ("Highly recommend", "I've already bought a second one as a gift."),
        ("Fantastic quality", "You can tell a lot of care went into the design."),
        ("Five stars", "It does everything I hoped for and more."),
        ("Couldn't be happier", "Great product and fast shipping; I'll be back for more."),
    ],
}

FIRST_NAMES: list[str] = [
    "Amara",
    "Ben",
    "Carmen",
    "Dmitri",
    "Elena",
    "Farah",
    "Gabriel",
    "Hana",
    "Isaac",
    "Jasmine",
    "Kenji",
    "Leila",
    "Mateo",
    "Nadia",
    "Oliver",
    "Priya",
    "Quinn",
    "Rafael",
    "Sofia",
    "Tariq",
    "Uma",
    "Victor",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Aiden",
    "Bianca",
    "Chidi",
    "Daniela",
    "Emeka",
    "Freya",
    "Grace",
    "Hiroshi",
    "Ingrid",
    "Jamal",
    "Kavya",
    "Lucas",
    "Mei",
    "Noah",
]

LAST_NAMES: list[str] = [
    "Okafor",
    "Nguyen",
    "Garcia",
    "Ivanov",
    "Rossi",
    "Haddad",
    "Martin",
    "Sato",
    "Cohen",
    "Patel",
    "Tanaka",
    "Rahimi",
    "Fernandez",
    "Kowalski",
    "Smith",
    "Sharma",
    "Murphy",
    "Silva",
    "Andersson",
    "Khan",
    "Mensah",
    "Dubois",
    "Chen",
    "Lopez",
    "Demir",
    "Walker",
    "Kim",
    "Moreau",
    "Adeyemi",
    "Novak",
    "Johansson",
    "Park",
    "Brown",
    "Yamamoto",
    "Larsen",
    "Williams",
    "Reddy",
    "Schmidt",
    "Wang",
    "O'Brien",
]
