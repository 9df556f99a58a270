# -*- coding: utf-8 -*-
# Copyright: (c) 2026, gitops.progressive contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Flagger's Canary CRD schema (flagger.app/v1beta1 ``openAPIV3Schema``), vendored from the pinned Flagger.

The source is ``artifacts/flagger/crd.yaml`` of github.com/fluxcd/flagger at tag
v1.41.0 (commit 6f165a10de0172acd773f2c05fa92d49b72abafb), the file the flagger role
applies from the pinned Go module (roles/flagger/tasks/processes.yml,
``flagger_version`` in roles/flagger/defaults/main.yml). ``SCHEMA`` is that CRD's
schema with its ``description`` texts left out; everything else is as the CRD has it.

It is Python rather than the YAML because a module runs on the managed host, where
only module_utils' Python files travel. The unit tests (test_flagger_model.py) fail
when ``flagger_version`` moves away from ``FLAGGER_VERSION``, and compare ``SCHEMA``
with the pinned module's crd.yaml wherever the Go module cache holds it. To move to
another Flagger: take the Canary document's v1beta1 ``openAPIV3Schema`` from its
crd.yaml, drop the string ``description`` values, and replace the three constants.
"""

from __future__ import annotations

import json

FLAGGER_VERSION = "v1.41.0"
SOURCE = "github.com/fluxcd/flagger@v1.41.0/artifacts/flagger/crd.yaml"
# sha256 of that crd.yaml, the whole file.
SOURCE_SHA256 = "cd7607269a9150940eca1b805607d552cff60034241899e87a6152ddacb405ca"

SCHEMA = json.loads(r'''
{
 "type": "object",
 "properties": {
  "apiVersion": {
   "type": "string"
  },
  "kind": {
   "type": "string"
  },
  "metadata": {
   "type": "object"
  },
  "spec": {
   "type": "object",
   "required": [
    "targetRef",
    "analysis"
   ],
   "properties": {
    "provider": {
     "type": "string"
    },
    "metricsServer": {
     "type": "string"
    },
    "progressDeadlineSeconds": {
     "type": "number"
    },
    "targetRef": {
     "type": "object",
     "required": [
      "apiVersion",
      "kind",
      "name"
     ],
     "properties": {
      "apiVersion": {
       "type": "string"
      },
      "kind": {
       "type": "string",
       "enum": [
        "DaemonSet",
        "Deployment",
        "Service"
       ]
      },
      "name": {
       "type": "string"
      }
     }
    },
    "autoscalerRef": {
     "type": "object",
     "required": [
      "apiVersion",
      "kind",
      "name"
     ],
     "properties": {
      "apiVersion": {
       "type": "string"
      },
      "kind": {
       "type": "string",
       "enum": [
        "HorizontalPodAutoscaler",
        "ScaledObject"
       ]
      },
      "name": {
       "type": "string"
      },
      "primaryScalerQueries": {
       "type": "object",
       "additionalProperties": {
        "type": "string"
       }
      },
      "primaryScalerReplicas": {
       "type": "object",
       "properties": {
        "minReplicas": {
         "type": "integer",
         "minimum": 1
        },
        "maxReplicas": {
         "type": "integer",
         "minimum": 1
        }
       }
      }
     }
    },
    "ingressRef": {
     "type": "object",
     "required": [
      "apiVersion",
      "kind",
      "name"
     ],
     "properties": {
      "apiVersion": {
       "type": "string"
      },
      "kind": {
       "type": "string",
       "enum": [
        "Ingress"
       ]
      },
      "name": {
       "type": "string"
      }
     }
    },
    "routeRef": {
     "type": "object",
     "required": [
      "apiVersion",
      "kind",
      "name"
     ],
     "properties": {
      "apiVersion": {
       "type": "string"
      },
      "kind": {
       "type": "string",
       "enum": [
        "ApisixRoute"
       ]
      },
      "name": {
       "type": "string"
      }
     }
    },
    "upstreamRef": {
     "type": "object",
     "required": [
      "apiVersion",
      "kind",
      "name"
     ],
     "properties": {
      "apiVersion": {
       "type": "string"
      },
      "kind": {
       "type": "string",
       "enum": [
        "Upstream"
       ]
      },
      "name": {
       "type": "string"
      },
      "namespace": {
       "type": "string"
      }
     }
    },
    "service": {
     "type": "object",
     "required": [
      "port"
     ],
     "properties": {
      "name": {
       "type": "string"
      },
      "port": {
       "type": "number"
      },
      "portName": {
       "type": "string"
      },
      "appProtocol": {
       "type": "string"
      },
      "targetPort": {
       "x-kubernetes-int-or-string": true
      },
      "portDiscovery": {
       "type": "boolean"
      },
      "headless": {
       "type": "boolean"
      },
      "timeout": {
       "type": "string"
      },
      "meshName": {
       "type": "string"
      },
      "backends": {
       "type": "array",
       "items": {
        "type": "string"
       }
      },
      "hosts": {
       "type": "array",
       "items": {
        "type": "string"
       }
      },
      "delegation": {
       "type": "boolean"
      },
      "match": {
       "type": "array",
       "items": {
        "properties": {
         "authority": {
          "oneOf": [
           {
            "not": {
             "anyOf": [
              {
               "required": [
                "exact"
               ]
              },
              {
               "required": [
                "prefix"
               ]
              },
              {
               "required": [
                "regex"
               ]
              }
             ]
            }
           },
           {
            "required": [
             "exact"
            ]
           },
           {
            "required": [
             "prefix"
            ]
           },
           {
            "required": [
             "regex"
            ]
           }
          ],
          "properties": {
           "exact": {
            "format": "string",
            "type": "string"
           },
           "prefix": {
            "format": "string",
            "type": "string"
           },
           "regex": {
            "format": "string",
            "type": "string"
           }
          },
          "type": "object"
         },
         "gateways": {
          "items": {
           "format": "string",
           "type": "string"
          },
          "type": "array"
         },
         "headers": {
          "additionalProperties": {
           "oneOf": [
            {
             "not": {
              "anyOf": [
               {
                "required": [
                 "exact"
                ]
               },
               {
                "required": [
                 "prefix"
                ]
               },
               {
                "required": [
                 "regex"
                ]
               }
              ]
             }
            },
            {
             "required": [
              "exact"
             ]
            },
            {
             "required": [
              "prefix"
             ]
            },
            {
             "required": [
              "regex"
             ]
            }
           ],
           "properties": {
            "exact": {
             "format": "string",
             "type": "string"
            },
            "prefix": {
             "format": "string",
             "type": "string"
            },
            "regex": {
             "format": "string",
             "type": "string"
            }
           },
           "type": "object"
          },
          "type": "object"
         },
         "ignoreUriCase": {
          "type": "boolean"
         },
         "method": {
          "oneOf": [
           {
            "not": {
             "anyOf": [
              {
               "required": [
                "exact"
               ]
              },
              {
               "required": [
                "prefix"
               ]
              },
              {
               "required": [
                "regex"
               ]
              }
             ]
            }
           },
           {
            "required": [
             "exact"
            ]
           },
           {
            "required": [
             "prefix"
            ]
           },
           {
            "required": [
             "regex"
            ]
           }
          ],
          "properties": {
           "exact": {
            "format": "string",
            "type": "string"
           },
           "prefix": {
            "format": "string",
            "type": "string"
           },
           "regex": {
            "format": "string",
            "type": "string"
           }
          },
          "type": "object"
         },
         "name": {
          "format": "string",
          "type": "string"
         },
         "port": {
          "type": "integer"
         },
         "queryParams": {
          "additionalProperties": {
           "oneOf": [
            {
             "not": {
              "anyOf": [
               {
                "required": [
                 "exact"
                ]
               },
               {
                "required": [
                 "prefix"
                ]
               },
               {
                "required": [
                 "regex"
                ]
               }
              ]
             }
            },
            {
             "required": [
              "exact"
             ]
            },
            {
             "required": [
              "prefix"
             ]
            },
            {
             "required": [
              "regex"
             ]
            }
           ],
           "properties": {
            "exact": {
             "format": "string",
             "type": "string"
            },
            "prefix": {
             "format": "string",
             "type": "string"
            },
            "regex": {
             "format": "string",
             "type": "string"
            }
           },
           "type": "object"
          },
          "type": "object"
         },
         "scheme": {
          "oneOf": [
           {
            "not": {
             "anyOf": [
              {
               "required": [
                "exact"
               ]
              },
              {
               "required": [
                "prefix"
               ]
              },
              {
               "required": [
                "regex"
               ]
              }
             ]
            }
           },
           {
            "required": [
             "exact"
            ]
           },
           {
            "required": [
             "prefix"
            ]
           },
           {
            "required": [
             "regex"
            ]
           }
          ],
          "properties": {
           "exact": {
            "format": "string",
            "type": "string"
           },
           "prefix": {
            "format": "string",
            "type": "string"
           },
           "regex": {
            "format": "string",
            "type": "string"
           }
          },
          "type": "object"
         },
         "sourceLabels": {
          "additionalProperties": {
           "format": "string",
           "type": "string"
          },
          "type": "object"
         },
         "sourceNamespace": {
          "format": "string",
          "type": "string"
         },
         "uri": {
          "oneOf": [
           {
            "not": {
             "anyOf": [
              {
               "required": [
                "exact"
               ]
              },
              {
               "required": [
                "prefix"
               ]
              },
              {
               "required": [
                "regex"
               ]
              }
             ]
            }
           },
           {
            "required": [
             "exact"
            ]
           },
           {
            "required": [
             "prefix"
            ]
           },
           {
            "required": [
             "regex"
            ]
           }
          ],
          "properties": {
           "exact": {
            "format": "string",
            "type": "string"
           },
           "prefix": {
            "format": "string",
            "type": "string"
           },
           "regex": {
            "format": "string",
            "type": "string"
           }
          },
          "type": "object"
         },
         "withoutHeaders": {
          "additionalProperties": {
           "oneOf": [
            {
             "not": {
              "anyOf": [
               {
                "required": [
                 "exact"
                ]
               },
               {
                "required": [
                 "prefix"
                ]
               },
               {
                "required": [
                 "regex"
                ]
               }
              ]
             }
            },
            {
             "required": [
              "exact"
             ]
            },
            {
             "required": [
              "prefix"
             ]
            },
            {
             "required": [
              "regex"
             ]
            }
           ],
           "properties": {
            "exact": {
             "format": "string",
             "type": "string"
            },
            "prefix": {
             "format": "string",
             "type": "string"
            },
            "regex": {
             "format": "string",
             "type": "string"
            }
           },
           "type": "object"
          },
          "type": "object"
         }
        },
        "type": "object"
       }
      },
      "retries": {
       "type": "object",
       "properties": {
        "attempts": {
         "format": "int32",
         "type": "integer"
        },
        "perTryTimeout": {
         "type": "string"
        },
        "retryOn": {
         "format": "string",
         "type": "string"
        }
       }
      },
      "rewrite": {
       "type": "object",
       "properties": {
        "uri": {
         "format": "string",
         "type": "string"
        },
        "authority": {
         "format": "string",
         "type": "string"
        },
        "type": {
         "format": "string",
         "type": "string"
        }
       }
      },
      "mirror": {
       "type": "array",
       "items": {
        "type": "object",
        "properties": {
         "backendRef": {
          "properties": {
           "group": {
            "default": "",
            "maxLength": 253,
            "pattern": "^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
            "type": "string"
           },
           "kind": {
            "default": "Service",
            "maxLength": 63,
            "minLength": 1,
            "pattern": "^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$",
            "type": "string"
           },
           "name": {
            "maxLength": 253,
            "minLength": 1,
            "type": "string"
           },
           "namespace": {
            "maxLength": 63,
            "minLength": 1,
            "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            "type": "string"
           },
           "port": {
            "format": "int32",
            "maximum": 65535,
            "minimum": 1,
            "type": "integer"
           }
          },
          "required": [
           "name"
          ],
          "type": "object",
          "x-kubernetes-validations": [
           {
            "message": "Must have port for Service reference",
            "rule": "(size(self.group) == 0 && self.kind == 'Service') ? has(self.port) : true"
           }
          ]
         }
        }
       },
       "required": [
        "backendRef"
       ]
      },
      "headers": {
       "type": "object",
       "properties": {
        "request": {
         "properties": {
          "add": {
           "additionalProperties": {
            "format": "string",
            "type": "string"
           },
           "type": "object"
          },
          "remove": {
           "items": {
            "format": "string",
            "type": "string"
           },
           "type": "array"
          },
          "set": {
           "additionalProperties": {
            "format": "string",
            "type": "string"
           },
           "type": "object"
          }
         },
         "type": "object"
        },
        "response": {
         "properties": {
          "add": {
           "additionalProperties": {
            "format": "string",
            "type": "string"
           },
           "type": "object"
          },
          "remove": {
           "items": {
            "format": "string",
            "type": "string"
           },
           "type": "array"
          },
          "set": {
           "additionalProperties": {
            "format": "string",
            "type": "string"
           },
           "type": "object"
          }
         },
         "type": "object"
        }
       }
      },
      "gateways": {
       "type": "array",
       "items": {
        "type": "string"
       }
      },
      "gatewayRefs": {
       "maxItems": 32,
       "type": "array",
       "items": {
        "required": [
         "name"
        ],
        "type": "object",
        "properties": {
         "group": {
          "default": "gateway.networking.k8s.io",
          "maxLength": 253,
          "pattern": "^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
          "type": "string"
         },
         "kind": {
          "default": "Gateway",
          "maxLength": 63,
          "minLength": 1,
          "pattern": "^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$",
          "type": "string"
         },
         "name": {
          "maxLength": 253,
          "minLength": 1,
          "type": "string"
         },
         "namespace": {
          "maxLength": 63,
          "minLength": 1,
          "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
          "type": "string"
         },
         "sectionName": {
          "maxLength": 253,
          "minLength": 1,
          "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
          "type": "string"
         },
         "port": {
          "format": "int32",
          "maximum": 65535,
          "minimum": 1,
          "type": "integer"
         }
        }
       }
      },
      "corsPolicy": {
       "type": "object",
       "properties": {
        "allowCredentials": {
         "type": "boolean"
        },
        "allowHeaders": {
         "items": {
          "format": "string",
          "type": "string"
         },
         "type": "array"
        },
        "allowMethods": {
         "items": {
          "format": "string",
          "type": "string"
         },
         "type": "array"
        },
        "allowOrigin": {
         "items": {
          "format": "string",
          "type": "string"
         },
         "type": "array"
        },
        "allowOrigins": {
         "type": "array",
         "items": {
          "type": "object",
          "oneOf": [
           {
            "required": [
             "exact"
            ]
           },
           {
            "required": [
             "prefix"
            ]
           },
           {
            "required": [
             "regex"
            ]
           }
          ],
          "properties": {
           "exact": {
            "format": "string",
            "type": "string"
           },
           "prefix": {
            "format": "string",
            "type": "string"
           },
           "regex": {
            "format": "string",
            "type": "string"
           }
          }
         }
        },
        "exposeHeaders": {
         "items": {
          "format": "string",
          "type": "string"
         },
         "type": "array"
        },
        "maxAge": {
         "type": "string"
        }
       }
      },
      "trafficPolicy": {
       "type": "object",
       "properties": {
        "connectionPool": {
         "type": "object",
         "properties": {
          "http": {
           "type": "object",
           "properties": {
            "h2UpgradePolicy": {
             "enum": [
              "DEFAULT",
              "DO_NOT_UPGRADE",
              "UPGRADE"
             ],
             "type": "string"
            },
            "http1MaxPendingRequests": {
             "format": "int32",
             "type": "integer"
            },
            "http2MaxRequests": {
             "format": "int32",
             "type": "integer"
            },
            "idleTimeout": {
             "type": "string"
            },
            "maxRequestsPerConnection": {
             "format": "int32",
             "type": "integer"
            },
            "maxRetries": {
             "format": "int32",
             "type": "integer"
            }
           }
          }
         }
        },
        "loadBalancer": {
         "type": "object",
         "oneOf": [
          {
           "required": [
            "simple"
           ]
          },
          {
           "properties": {
            "consistentHash": {
             "oneOf": [
              {
               "required": [
                "httpHeaderName"
               ]
              },
              {
               "required": [
                "httpCookie"
               ]
              },
              {
               "required": [
                "useSourceIp"
               ]
              },
              {
               "required": [
                "httpQueryParameterName"
               ]
              }
             ]
            }
           },
           "required": [
            "consistentHash"
           ]
          }
         ],
         "properties": {
          "consistentHash": {
           "properties": {
            "httpCookie": {
             "properties": {
              "name": {
               "format": "string",
               "type": "string"
              },
              "path": {
               "format": "string",
               "type": "string"
              },
              "ttl": {
               "type": "string"
              }
             },
             "type": "object"
            },
            "httpHeaderName": {
             "format": "string",
             "type": "string"
            },
            "httpQueryParameterName": {
             "format": "string",
             "type": "string"
            },
            "minimumRingSize": {
             "type": "integer"
            },
            "useSourceIp": {
             "type": "boolean"
            }
           },
           "type": "object"
          },
          "localityLbSetting": {
           "properties": {
            "distribute": {
             "items": {
              "properties": {
               "from": {
                "format": "string",
                "type": "string"
               },
               "to": {
                "additionalProperties": {
                 "type": "integer"
                },
                "type": "object"
               }
              },
              "type": "object"
             },
             "type": "array"
            },
            "enabled": {
             "type": "boolean"
            },
            "failover": {
             "items": {
              "properties": {
               "from": {
                "format": "string",
                "type": "string"
               },
               "to": {
                "format": "string",
                "type": "string"
               }
              },
              "type": "object"
             },
             "type": "array"
            }
           },
           "type": "object"
          },
          "simple": {
           "enum": [
            "ROUND_ROBIN",
            "LEAST_CONN",
            "RANDOM",
            "PASSTHROUGH",
            "LEAST_REQUEST"
           ],
           "type": "string"
          },
          "warmupDurationSecs": {
           "type": "string"
          }
         }
        },
        "outlierDetection": {
         "type": "object",
         "properties": {
          "baseEjectionTime": {
           "type": "string"
          },
          "consecutive5xxErrors": {
           "type": "integer"
          },
          "consecutiveErrors": {
           "format": "int32",
           "type": "integer"
          },
          "consecutiveGatewayErrors": {
           "format": "int32",
           "type": "integer"
          },
          "interval": {
           "type": "string"
          },
          "maxEjectionPercent": {
           "format": "int32",
           "type": "integer"
          },
          "minHealthPercent": {
           "format": "int32",
           "type": "integer"
          }
         }
        },
        "tls": {
         "type": "object",
         "properties": {
          "caCertificates": {
           "format": "string",
           "type": "string"
          },
          "clientCertificate": {
           "format": "string",
           "type": "string"
          },
          "mode": {
           "enum": [
            "DISABLE",
            "SIMPLE",
            "MUTUAL",
            "ISTIO_MUTUAL"
           ],
           "type": "string"
          },
          "privateKey": {
           "format": "string",
           "type": "string"
          },
          "sni": {
           "format": "string",
           "type": "string"
          },
          "subjectAltNames": {
           "items": {
            "format": "string",
            "type": "string"
           },
           "type": "array"
          }
         }
        }
       }
      },
      "apex": {
       "type": "object",
       "properties": {
        "labels": {
         "type": "object",
         "additionalProperties": {
          "type": "string"
         }
        },
        "annotations": {
         "type": "object",
         "additionalProperties": {
          "type": "string"
         }
        }
       }
      },
      "primary": {
       "type": "object",
       "properties": {
        "labels": {
         "type": "object",
         "additionalProperties": {
          "type": "string"
         }
        },
        "annotations": {
         "type": "object",
         "additionalProperties": {
          "type": "string"
         }
        }
       }
      },
      "canary": {
       "type": "object",
       "properties": {
        "labels": {
         "type": "object",
         "additionalProperties": {
          "type": "string"
         }
        },
        "annotations": {
         "type": "object",
         "additionalProperties": {
          "type": "string"
         }
        }
       }
      }
     }
    },
    "skipAnalysis": {
     "type": "boolean"
    },
    "revertOnDeletion": {
     "type": "boolean"
    },
    "suspend": {
     "type": "boolean"
    },
    "analysis": {
     "type": "object",
     "oneOf": [
      {
       "required": [
        "interval",
        "threshold",
        "iterations"
       ]
      },
      {
       "required": [
        "interval",
        "threshold",
        "stepWeight"
       ]
      },
      {
       "required": [
        "interval",
        "threshold",
        "stepWeights"
       ]
      }
     ],
     "properties": {
      "interval": {
       "type": "string",
       "pattern": "^[0-9]+(m|s)"
      },
      "iterations": {
       "type": "number"
      },
      "threshold": {
       "type": "number"
      },
      "maxWeight": {
       "type": "number"
      },
      "stepWeight": {
       "type": "number"
      },
      "stepWeights": {
       "type": "array",
       "items": {
        "type": "number"
       }
      },
      "stepWeightPromotion": {
       "type": "number"
      },
      "mirror": {
       "type": "boolean"
      },
      "mirrorWeight": {
       "type": "number"
      },
      "primaryReadyThreshold": {
       "type": "number"
      },
      "canaryReadyThreshold": {
       "type": "number"
      },
      "match": {
       "type": "array",
       "items": {
        "type": "object",
        "properties": {
         "headers": {
          "type": "object",
          "additionalProperties": {
           "oneOf": [
            {
             "required": [
              "exact"
             ]
            },
            {
             "required": [
              "prefix"
             ]
            },
            {
             "required": [
              "suffix"
             ]
            },
            {
             "required": [
              "regex"
             ]
            }
           ],
           "type": "object",
           "properties": {
            "exact": {
             "format": "string",
             "type": "string"
            },
            "prefix": {
             "format": "string",
             "type": "string"
            },
            "suffix": {
             "format": "string",
             "type": "string"
            },
            "regex": {
             "format": "string",
             "type": "string"
            }
           }
          }
         },
         "queryParams": {
          "type": "object",
          "additionalProperties": {
           "oneOf": [
            {
             "not": {
              "anyOf": [
               {
                "required": [
                 "exact"
                ]
               },
               {
                "required": [
                 "prefix"
                ]
               },
               {
                "required": [
                 "regex"
                ]
               }
              ]
             }
            },
            {
             "required": [
              "exact"
             ]
            },
            {
             "required": [
              "prefix"
             ]
            },
            {
             "required": [
              "regex"
             ]
            }
           ],
           "properties": {
            "exact": {
             "type": "string"
            },
            "prefix": {
             "type": "string"
            },
            "regex": {
             "type": "string"
            }
           },
           "type": "object"
          }
         },
         "sourceLabels": {
          "type": "object",
          "additionalProperties": {
           "format": "string",
           "type": "string"
          }
         }
        }
       }
      },
      "metrics": {
       "type": "array",
       "items": {
        "type": "object",
        "required": [
         "name"
        ],
        "properties": {
         "name": {
          "type": "string"
         },
         "interval": {
          "type": "string",
          "pattern": "^[0-9]+(m|s)"
         },
         "threshold": {
          "type": "number"
         },
         "thresholdRange": {
          "type": "object",
          "properties": {
           "min": {
            "type": "number"
           },
           "max": {
            "type": "number"
           }
          }
         },
         "query": {
          "type": "string"
         },
         "templateRef": {
          "type": "object",
          "required": [
           "name"
          ],
          "properties": {
           "name": {
            "type": "string"
           },
           "namespace": {
            "type": "string"
           }
          }
         },
         "templateVariables": {
          "type": "object",
          "additionalProperties": {
           "type": "string"
          }
         }
        }
       }
      },
      "alerts": {
       "type": "array",
       "items": {
        "type": "object",
        "required": [
         "providerRef",
         "name"
        ],
        "properties": {
         "name": {
          "type": "string"
         },
         "severity": {
          "type": "string",
          "enum": [
           "",
           "info",
           "warn",
           "error"
          ]
         },
         "providerRef": {
          "type": "object",
          "required": [
           "name"
          ],
          "properties": {
           "name": {
            "type": "string"
           },
           "namespace": {
            "type": "string"
           }
          }
         }
        }
       }
      },
      "webhooks": {
       "type": "array",
       "items": {
        "type": "object",
        "required": [
         "name",
         "url"
        ],
        "properties": {
         "name": {
          "type": "string"
         },
         "type": {
          "type": "string",
          "enum": [
           "",
           "confirm-rollout",
           "pre-rollout",
           "rollout",
           "confirm-promotion",
           "post-rollout",
           "event",
           "rollback",
           "confirm-traffic-increase"
          ]
         },
         "muteAlert": {
          "type": "boolean"
         },
         "url": {
          "type": "string",
          "format": "url"
         },
         "timeout": {
          "type": "string",
          "pattern": "^[0-9]+(m|s)"
         },
         "retries": {
          "type": "number"
         },
         "disableTLS": {
          "type": "boolean"
         },
         "metadata": {
          "type": "object",
          "additionalProperties": {
           "type": "string"
          }
         }
        }
       }
      },
      "sessionAffinity": {
       "type": "object",
       "required": [
        "cookieName"
       ],
       "properties": {
        "cookieName": {
         "type": "string"
        },
        "primaryCookieName": {
         "type": "string"
        },
        "maxAge": {
         "default": 86400,
         "type": "number"
        }
       }
      }
     }
    }
   }
  },
  "status": {
   "type": "object",
   "properties": {
    "phase": {
     "type": "string",
     "enum": [
      "",
      "Initializing",
      "Initialized",
      "Waiting",
      "Progressing",
      "WaitingPromotion",
      "Promoting",
      "Finalising",
      "Succeeded",
      "Failed",
      "Terminating",
      "Terminated"
     ]
    },
    "failedChecks": {
     "type": "number"
    },
    "canaryWeight": {
     "type": "number"
    },
    "iterations": {
     "type": "number"
    },
    "trackedConfigs": {
     "additionalProperties": {
      "type": "string"
     },
     "type": "object"
    },
    "lastAppliedSpec": {
     "type": "string"
    },
    "lastPromotedSpec": {
     "type": "string"
    },
    "lastTransitionTime": {
     "format": "date-time",
     "type": "string"
    },
    "sessionAffinityCookie": {
     "type": "string"
    },
    "previousSessionAffinityCookie": {
     "type": "string"
    },
    "conditions": {
     "type": "array",
     "items": {
      "type": "object",
      "required": [
       "type",
       "status",
       "reason"
      ],
      "properties": {
       "lastTransitionTime": {
        "format": "date-time",
        "type": "string"
       },
       "lastUpdateTime": {
        "format": "date-time",
        "type": "string"
       },
       "message": {
        "type": "string"
       },
       "reason": {
        "type": "string"
       },
       "status": {
        "type": "string"
       },
       "type": {
        "type": "string"
       }
      }
     }
    }
   }
  }
 }
}
''')
