// Settings page.
"use strict";
