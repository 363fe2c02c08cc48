"""What a spec names on disk or in the catalog, resolved into the planner's inputs: hardware, model dimensions, the
catalog of base models, and what a domain means in its terms."""
