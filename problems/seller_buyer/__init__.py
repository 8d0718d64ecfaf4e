"""Competing sellers (leaders) and one buyer (follower): Shahanaghi & Keyvani Rad (2016), demand K P^-a M^b.

Each seller offers a quantity and a mark-up; the buyer accepts a set of offers and sets its retail price,
marketing and lot sizes (``follower.py``, exact by enumeration or CP-SAT). ``problem.py`` holds one seller's
best response (the family's bilevel problem), the same under the game's one buyer tie rule, and the joint
game's exploitability; ``exact.py`` the exact baselines (the certified best response, the game's iterated
best response); ``game.py`` the iterated best response and the exploitability under one buyer tie rule.
The GA methods of the game and the paper's Tables 2-5 are in ``bilevel_bench.experiments.studies.seller_buyer``.
README.md documents the model, the certificate, and where the paper's tables disagree with its formulas.
"""

from pathlib import Path

from bilevel_bench.registry import Family, Option

FAMILY = Family(
    name="seller_buyer",
    description="n sellers offer quantity and mark-up to one buyer (D = K P^-a M^b); one seller's best response",
    instance_type="bilevel_bench.problems.seller_buyer.instance:SellerBuyerInstance",
    problem_type="bilevel_bench.problems.seller_buyer.problem:SellerBestResponseProblem",
    generate="bilevel_bench.problems.seller_buyer.instance:generate",
    data_dir=Path(__file__).parent / "data",
    example="generate:n=3,seed=1",
    problem_options={
        "seller": Option(0, "the seller whose best response is sought (0-based)", low=0),
        "profile": Option(
            None, "the other sellers' offers: D_1..D_n then R_1..R_n (default: the start profile)", kind=list
        ),
    },
)
