"""Small helpers shared by every package: warn-once logging (:mod:`.once`), lenient number parsing
(:mod:`.numbers`), UTC time text (:mod:`.times`) and public names loaded on first use (:mod:`.lazy`). Nothing
here imports anything heavy."""
