// Redemption codes page.
"use strict";
