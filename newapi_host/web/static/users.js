// Users page.
"use strict";
