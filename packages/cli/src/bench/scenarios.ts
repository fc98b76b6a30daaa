// Every scenario module, imported for its registration side effect.
import "./scenarios/rpc.js";
import "./scenarios/keys.js";
import "./scenarios/delivery.js";
import "./scenarios/media.js";
import "./scenarios/ratchet.js";
import "./scenarios/e2e.js";
import "./scenarios/receipts.js";
import "./scenarios/fanout.js";
