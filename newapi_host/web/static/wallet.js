// Wallet page.
"use strict";
