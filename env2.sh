export CC=http://127.0.0.1:42274
export W=cc_aKmYI5EMxRwalGqDoa6ht39aiXS_UCD8igiM3YXVMSA
export ADM2=cc_Ghj7rFZqVaLdGA6Ssm4ZzDLzyhbzQ6CTdzqkrtthFvg
