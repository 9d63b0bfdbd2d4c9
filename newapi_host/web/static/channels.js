// Channels page.
"use strict";
