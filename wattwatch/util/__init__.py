"""Small helpers shared by every package: warn-once logging (:mod:`.once`), lenient number parsing
(:mod:`.numbers`) and UTC time text (:mod:`.times`). Nothing here imports anything heavy."""
