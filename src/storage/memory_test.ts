import { storeConformance } from "./conformance.ts";
import { MemoryStore } from "./memory.ts";

storeConformance("MemoryStore", {
  open: () => Promise.resolve(new MemoryStore()),
});
