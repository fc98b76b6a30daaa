// Every scenario module, imported for its registration side effect.
import "./scenarios/rpc.js";
